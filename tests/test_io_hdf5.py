"""Tests for mnistrobust.io.hdf5: the HDF5 layouts the rules pass between them (gradient-sign
maps, adversarial pools, transfer examples), checked on reading against what they were
made from. (The shared reader's own errors: test_io_storage.py.)"""

from __future__ import annotations

import os

import h5py
import pytest
import torch

from mnistrobust.errors import DataError
from mnistrobust.io.hdf5 import (
    POOL_FORMAT,
    load_pool,
    load_sign_map,
    load_transfer_examples,
    save_pool,
    save_sign_map,
    save_transfer_examples,
)
from mnistrobust.training.adversarial import AdversarialSettings

SETTINGS = {"base_model": "lenet", "stages": 2, "iterations_per_stage": 5, "eps": 0.2, "c": 0.5, "batch_size": 7}


def _sign(n: int = 5) -> torch.Tensor:
    return torch.randint(-1, 2, (n, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.int8)


# ------------------------------------------------------------------ sign maps


def test_sign_map_round_trip_and_attribute_checks(tmp_path):
    path = tmp_path / "attacks" / "lenet" / "fgsm_sign.h5"
    sign = _sign()
    save_sign_map(path, sign, {"model": "lenet", "threat": "end_to_end", "images": 5, "dae": None})
    loaded, attrs = load_sign_map(path, expect={"model": "lenet", "threat": "end_to_end", "images": 5})
    assert loaded.dtype == torch.int8 and torch.equal(loaded, sign)
    assert attrs["model"] == "lenet" and "dae" not in attrs  # None attributes are left out
    assert os.listdir(path.parent) == ["fgsm_sign.h5"]
    assert torch.equal(load_sign_map(path)[0], sign)  # nothing expected: any sign map
    with pytest.raises(DataError, match="made with threat='end_to_end', expected 'oblivious'"):
        load_sign_map(path, expect={"threat": "oblivious"})
    with pytest.raises(DataError, match="made with images=5, expected 500"):
        load_sign_map(path, expect={"images": 500})


def test_sign_map_errors_name_the_file_and_the_rule_that_makes_it(tmp_path):
    with pytest.raises(DataError, match=r"sign map .*absent\.h5 does not exist \(made by the fgsm_sign_map rule\)"):
        load_sign_map(tmp_path / "absent.h5")
    wrong = tmp_path / "float.h5"
    with h5py.File(wrong, "w") as handle:
        handle["sign"] = torch.rand(2, 1, 28, 28).numpy()
    with pytest.raises(DataError, match="expected int8 N x 1 x 28 x 28"):
        load_sign_map(wrong)


# ------------------------------------------------------------------ adversarial pools


def test_pool_round_trip_and_attribute_checks(tmp_path):
    path = tmp_path / "pool.h5"
    images, labels = torch.rand(4, 1, 28, 28), torch.tensor([1, 2, 3, 4])
    attrs = AdversarialSettings(**SETTINGS).pool_attrs(1)
    save_pool(path, images, labels, attrs)
    loaded, loaded_labels = load_pool(path, attrs)
    torch.testing.assert_close(loaded, images)
    assert loaded_labels.tolist() == [1, 2, 3, 4] and loaded_labels.dtype == torch.int64
    with h5py.File(path) as handle:
        assert handle.attrs["format"] == POOL_FORMAT
    with pytest.raises(DataError, match="stage=1"):
        load_pool(path, AdversarialSettings(**SETTINGS).pool_attrs(2))
    with pytest.raises(DataError, match="eps"):
        load_pool(path, AdversarialSettings(**{**SETTINGS, "eps": 0.3}).pool_attrs(1))
    with pytest.raises(DataError, match="does not exist"):
        load_pool(tmp_path / "missing.h5", attrs)
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(DataError, match="corrupt"):
        load_pool(tmp_path / "junk.h5", attrs)


def test_pool_without_format_tag_is_refused(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as handle:
        handle["images"] = torch.rand(2, 1, 28, 28).numpy()
        handle["labels"] = [0, 1]
    with pytest.raises(DataError, match="not an"):
        load_pool(path, {})


def test_pool_with_labels_that_do_not_match_its_images_is_refused(tmp_path):
    path = tmp_path / "pool.h5"
    save_pool(path, torch.rand(3, 1, 28, 28), torch.tensor([1, 2]), {"stage": 1})
    with pytest.raises(DataError, match="holds images"):
        load_pool(path, {"stage": 1})


# ------------------------------------------------------------------ transfer examples


def test_transfer_examples_round_trip_and_checks(tmp_path):
    path = tmp_path / "transfer" / "lenet.h5"
    eps = [0.1, 0.3, 1.0]
    examples = torch.rand(len(eps), 6, 1, 28, 28)
    save_transfer_examples(path, examples, {"source": "lenet", "eps": eps, "images": 6, "steps": 4})
    torch.testing.assert_close(load_transfer_examples(path, "lenet", eps, 6), examples)
    with pytest.raises(DataError, match="made with source='lenet', expected 'committee'"):
        load_transfer_examples(path, "committee", eps, 6)
    with pytest.raises(DataError, match="made with eps="):
        load_transfer_examples(path, "lenet", [0.1, 0.2, 1.0], 6)
    with pytest.raises(DataError, match="made with images=6, expected 40"):
        load_transfer_examples(path, "lenet", eps, 40)
    with pytest.raises(DataError, match=r"absent\.h5 does not exist \(made by the strong_transfer_examples rule\)"):
        load_transfer_examples(tmp_path / "absent.h5", "lenet", eps, 6)
