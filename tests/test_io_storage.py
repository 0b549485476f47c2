"""Tests for mnistrobust.io.storage: the atomic writer every output goes through, the CSV
and figure writers, and the shared HDF5 and CSV readers: every artifact loader (pools,
sign maps, transfer examples, stimulus files) goes through them, so their errors are
tested once here."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pandas as pd
import pytest

from mnistrobust.errors import DataError
from mnistrobust.io.storage import TMP_MARK, atomic_path, check_attrs, read_csv_checked, read_hdf5, save_figure, write_csv, write_text_atomic


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


# ------------------------------------------------------------------ atomic writes


def test_atomic_path_writes_target_and_no_temporaries(tmp_path):
    target = tmp_path / "out" / "result.txt"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent
        assert TMP_MARK in tmp.name
        assert tmp.suffix == ".txt"
        assert not target.exists()
        tmp.write_text("hello")
    assert target.read_text() == "hello"
    assert os.listdir(target.parent) == ["result.txt"]


def test_atomic_path_leaves_nothing_when_body_raises(tmp_path):
    target = tmp_path / "result.txt"
    with pytest.raises(ValueError, match="boom"):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise ValueError("boom")
    assert not target.exists()
    assert os.listdir(tmp_path) == []


def test_atomic_path_keeps_old_target_when_body_raises(tmp_path):
    target = tmp_path / "result.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("new")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["result.txt"]


def test_atomic_path_raises_if_nothing_written(tmp_path):
    target = tmp_path / "result.txt"
    with pytest.raises(FileNotFoundError):
        with atomic_path(target):
            pass
    assert os.listdir(tmp_path) == []


def test_atomic_path_removes_stale_temporaries(tmp_path):
    target = tmp_path / "result.txt"
    stale = tmp_path / f".result.txt{TMP_MARK}99999.txt"
    stale.write_text("left by a killed job")
    unrelated = tmp_path / "other.txt"
    unrelated.write_text("keep")
    write_text_atomic(target, "fresh")
    assert target.read_text() == "fresh"
    assert sorted(os.listdir(tmp_path)) == ["other.txt", "result.txt"]


# ------------------------------------------------------------------ CSV and figure writers


def test_write_csv_writes_without_the_index_and_with_the_float_format(tmp_path):
    target = tmp_path / "out" / "table.csv"
    table = pd.DataFrame({"method": ["a", "b"], "error": [1 / 3, 2 / 3]})
    write_csv(table, target, float_format="%.3g")
    assert target.read_text().splitlines() == ["method,error", "a,0.333", "b,0.667"]
    assert os.listdir(target.parent) == ["table.csv"]
    write_csv(table, target)  # full precision without a float format
    pd.testing.assert_frame_equal(pd.read_csv(target), table)


def test_read_csv_checked_names_the_file_and_the_missing_columns(tmp_path):
    path = tmp_path / "results.csv"
    pd.DataFrame({"method": ["a"], "eps": [0.1]}).to_csv(path, index=False)
    assert list(read_csv_checked(path, ["method", "eps"], "results").columns) == ["method", "eps"]
    with pytest.raises(DataError, match=r"results .*results\.csv lacks column\(s\) \['dist', 'error'\]"):
        read_csv_checked(path, ["method", "error", "dist"], "results")
    with pytest.raises(DataError, match=r"results .*absent\.csv cannot be read"):
        read_csv_checked(tmp_path / "absent.csv", ["method"], "results")


def test_save_figure_writes_a_png_atomically_and_closes_the_figure(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots()
    axis.plot([0, 1], [1, 0])
    target = tmp_path / "figures" / "line.png"
    save_figure(figure, target)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(target.parent) == ["line.png"]
    assert not plt.fignum_exists(figure.number)
