"""The shared HDF5 reader: every artifact loader (pools, sign maps, transfer examples,
stimulus files) goes through it, so its errors are tested once here."""

import h5py
import numpy as np
import pytest

from mnistrobust.errors import DataError
from mnistrobust.storage import check_attrs, read_hdf5


@pytest.fixture
def artifact(tmp_path):
    path = tmp_path / "artifact.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("values", data=np.arange(6, dtype=np.int8).reshape(2, 3))
        handle.attrs.update({"format": "demo-v1", "eps": 0.1, "eps_list": [0.1, 0.2], "model": "lenet"})
    return path


def test_read_hdf5_returns_the_datasets_and_root_attributes(artifact):
    arrays, attrs = read_hdf5(artifact, ["values"], "demo", file_format="demo-v1")
    np.testing.assert_array_equal(arrays["values"], np.arange(6).reshape(2, 3))
    assert attrs["model"] == "lenet"


def test_read_hdf5_names_what_is_wrong(artifact, tmp_path):
    with pytest.raises(DataError, match=r"demo .*missing\.h5 does not exist \(run rule x\)"):
        read_hdf5(tmp_path / "missing.h5", ["values"], "demo", hint="run rule x")
    with pytest.raises(DataError, match="is not an other-v2 file, so it cannot be a demo"):
        read_hdf5(artifact, ["values"], "demo", file_format="other-v2")
    with pytest.raises(DataError, match="demo .* is corrupt or incomplete"):
        read_hdf5(artifact, ["values", "absent"], "demo")
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(artifact.read_bytes()[:200])
    with pytest.raises(DataError, match="truncated.h5 is corrupt or incomplete"):
        read_hdf5(truncated, ["values"], "demo")


def test_check_attrs_compares_floats_with_tolerance_and_names_the_mismatch(artifact):
    _, attrs = read_hdf5(artifact, [], "demo")
    check_attrs(artifact, "demo", attrs, {"eps": 0.1 + 1e-12, "eps_list": [0.1, 0.2], "model": "lenet"})
    with pytest.raises(DataError, match=r"made with eps=0.1, expected 0.3"):
        check_attrs(artifact, "demo", attrs, {"eps": 0.3})
    with pytest.raises(DataError, match=r"made with eps_list=\[0.1, 0.2\], expected \[0.1\]"):
        check_attrs(artifact, "demo", attrs, {"eps_list": [0.1]})
    with pytest.raises(DataError, match=r"made with stage=None, expected 2"):
        check_attrs(artifact, "demo", attrs, {"stage": 2})
