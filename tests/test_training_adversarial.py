"""Tests for mnistrobust.adversarial: Eq. 3 pools in HDF5 and the staged training."""

from __future__ import annotations

import h5py
import pytest
import torch

from mnistrobust.adversarial import AdversarialSpec, generate_pool, load_pool, make_pool, save_pool, train_stage
from mnistrobust.attacks import eq3_examples
from mnistrobust.checkpoints import read_checkpoint, save_checkpoint
from mnistrobust.errors import ConfigError, DataError

from model_support import seeded_lenet

SETTINGS = {"base_model": "lenet", "stages": 2, "iterations_per_stage": 5, "eps": 0.2, "c": 0.5, "batch_size": 7}
SOLVER = {"batch_size": 16, "base_lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4, "lr_gamma": 1e-4, "lr_power": 0.75, "bias_lr_mult": 2.0, "log_every": 5}


def _quiet(message: str) -> None:
    pass


@pytest.fixture
def base_checkpoint(tmp_path):
    path = tmp_path / "lenet.pt"
    save_checkpoint(path, seeded_lenet(), {"name": "lenet", "arch": "lenet", "dropout": {}, "seed": 1})
    return path


def test_pool_is_eq3_of_every_image_whatever_the_batch_size():
    model = seeded_lenet()
    x = torch.rand(10, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    y = torch.arange(10)
    pool = generate_pool(model, x, y, eps=0.2, c=0.5, batch_size=3)
    torch.testing.assert_close(pool, eq3_examples(model, x, y, 0.2, 0.5))
    assert pool.shape == x.shape and pool.min() >= 0 and pool.max() <= 1


def test_pool_round_trip_and_attribute_checks(tmp_path):
    path = tmp_path / "pool.h5"
    images, labels = torch.rand(4, 1, 28, 28), torch.tensor([1, 2, 3, 4])
    attrs = AdversarialSpec(**SETTINGS).pool_attrs(1)
    save_pool(path, images, labels, attrs)
    loaded, loaded_labels = load_pool(path, attrs)
    torch.testing.assert_close(loaded, images)
    assert loaded_labels.tolist() == [1, 2, 3, 4]
    with pytest.raises(DataError, match="stage=1"):
        load_pool(path, AdversarialSpec(**SETTINGS).pool_attrs(2))
    with pytest.raises(DataError, match="eps"):
        load_pool(path, AdversarialSpec(**{**SETTINGS, "eps": 0.3}).pool_attrs(1))
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


@pytest.mark.parametrize("stage", [0, 3])
def test_nonexistent_stage_is_refused(stage):
    with pytest.raises(ConfigError, match="stages are 1..2"):
        AdversarialSpec(**SETTINGS).check_stage(stage)


def test_make_pool_refuses_the_wrong_source_model(mnist_h5_file, tmp_path, base_checkpoint):
    with pytest.raises(DataError, match="stage 2 needs 'adv_stage1'"):
        make_pool(str(mnist_h5_file), base_checkpoint, tmp_path / "pool2.h5", 2, SETTINGS, train_images=20, log=_quiet)
    assert not (tmp_path / "pool2.h5").exists()


def test_two_stages_end_to_end_and_mismatches_named(mnist_h5_file, tmp_path, base_checkpoint):
    data = str(mnist_h5_file)
    pool1 = tmp_path / "pool_stage1.h5"
    make_pool(data, base_checkpoint, pool1, 1, SETTINGS, train_images=64, log=_quiet)
    stage1 = tmp_path / "stage1.pt"
    common = {"settings": SETTINGS, "solver": SOLVER, "base_iterations": 100, "train_images": 64, "test_images": 50, "log": _quiet}
    train_stage(data, base_checkpoint, [pool1], stage1, stage=1, **common)
    meta = read_checkpoint(stage1)["meta"]
    assert (meta["name"], meta["stage"], meta["parent"], meta["start_iteration"]) == ("adv_stage1", 1, "lenet", 100)
    assert meta["train_images"] == 128  # natural + one pool
    # Stage 2 must continue stage 1 and train on pools 1 and 2 in order.
    with pytest.raises(DataError, match="stage 2 continues 'adv_stage1'"):
        train_stage(data, base_checkpoint, [pool1, pool1], tmp_path / "stage2.pt", stage=2, **common)
    with pytest.raises(ConfigError, match="pools of stages 1..2"):
        train_stage(data, stage1, [pool1], tmp_path / "stage2.pt", stage=2, **common)
    pool2 = tmp_path / "pool_stage2.h5"
    make_pool(data, stage1, pool2, 2, SETTINGS, train_images=64, log=_quiet)
    with pytest.raises(DataError, match="stage=2"):
        train_stage(data, stage1, [pool2, pool2], tmp_path / "stage2.pt", stage=2, **common)
    assert not (tmp_path / "stage2.pt").exists()
    train_stage(data, stage1, [pool1, pool2], tmp_path / "stage2.pt", stage=2, **common)
    assert read_checkpoint(tmp_path / "stage2.pt")["meta"]["start_iteration"] == 105
