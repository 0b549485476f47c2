"""Tests for mnistrobust.jobs.training: the training jobs from data file to checkpoint: one
network, a training group (one after another on the CPU, kept member by member across an
interruption), the DAE, and the adversarial pools and stages."""

from __future__ import annotations

import pytest
import torch

from mnistrobust.data import load_split
from mnistrobust.errors import ConfigError, DataError
from mnistrobust.io.checkpoints import load_model, read_checkpoint, save_checkpoint
from mnistrobust.io.hdf5 import load_pool
from mnistrobust.jobs.training import (
    make_pool,
    train_checkpoint,
    train_dae_checkpoint,
    train_group_checkpoints,
    train_stage,
    unfinished_member_path,
)
from mnistrobust.nets.defenses import DenoisingAutoencoder
from mnistrobust.nets.models import LeNet
from mnistrobust.training.adversarial import AdversarialSettings, generate_pool
from mnistrobust.training.solver import SolverSettings, train

from model_support import MODELS_SECTION, quiet, seeded_lenet


def test_group_checkpoints_on_the_cpu_are_the_checkpoints_train_model_makes(mnist_h5_file, tmp_path):
    """On the CPU a group trains its members one by one: bit-identical to train_checkpoint."""
    names = ["a", "b"]
    paths = {name: str(tmp_path / f"{name}.pt") for name in names}
    solver = {"batch_size": 32, "log_every": 5}
    quietly = {"train_images": 512, "test_images": 200, "log": quiet}
    train_group_checkpoints(str(mnist_h5_file), paths, MODELS_SECTION, solver, **quietly)
    alone = tmp_path / "b_alone.pt"
    train_checkpoint(str(mnist_h5_file), str(alone), "b", MODELS_SECTION["b"], solver, **quietly)
    for name in names:
        model, meta = load_model(paths[name])
        assert isinstance(model, LeNet)
        assert meta["seed"] == MODELS_SECTION[name]["seed"] and meta["trained_in_group_of"] == 2
        assert meta["trained_as_grouped_network"] is False
        assert meta["solver"]["iterations"] == 10 and 0.0 <= meta["metrics"]["clean_test_error"] <= 1.0
    reference, _ = load_model(alone)
    grouped, _ = load_model(paths["b"])
    for key, tensor in reference.state_dict().items():
        assert torch.equal(grouped.state_dict()[key], tensor), key


class Interrupt(Exception):
    """Stands in for the SIGINT / SIGTERM that stops a job half-way."""


def interrupt_at(message: str):
    def log(line: str) -> None:
        if line == message:
            raise Interrupt(line)

    return log


def test_an_interrupted_group_job_trains_only_the_members_it_had_not_finished(mnist_h5_file, tmp_path):
    names = ["a", "b"]
    paths = {name: str(tmp_path / f"{name}.pt") for name in names}
    solver = {"batch_size": 32, "log_every": 5}
    sizes = {"train_images": 512, "test_images": 200}
    with pytest.raises(Interrupt):
        train_group_checkpoints(str(mnist_h5_file), paths, MODELS_SECTION, solver, **sizes, log=interrupt_at("training b"))
    assert not any((tmp_path / f"{name}.pt").exists() for name in names)  # no output looks finished
    assert (tmp_path / "unfinished" / "a.pt").is_file()

    lines: list[str] = []
    train_group_checkpoints(str(mnist_h5_file), paths, MODELS_SECTION, solver, **sizes, log=lines.append)
    assert "training a" not in lines and "training b" in lines
    assert any(line.startswith("a: kept from an interrupted run") for line in lines)
    assert not (tmp_path / "unfinished").exists()
    alone = tmp_path / "a_alone.pt"
    train_checkpoint(str(mnist_h5_file), str(alone), "a", MODELS_SECTION["a"], solver, **sizes, log=lambda _: None)
    reference, _ = load_model(alone)
    resumed, meta = load_model(paths["a"])
    assert meta["trained_in_group_of"] == 2 and 0.0 <= meta["metrics"]["clean_test_error"] <= 1.0
    for key, tensor in reference.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], tensor), key


@pytest.mark.parametrize("spoil, reason", [("other_solver", "solver differ"), ("garbage", "corrupt or not a checkpoint")])
def test_a_kept_member_made_otherwise_or_damaged_is_trained_again(mnist_h5_file, tmp_path, spoil, reason):
    paths = {name: str(tmp_path / f"{name}.pt") for name in ("a", "b")}
    sizes = {"train_images": 512, "test_images": 200}
    kept = tmp_path / "unfinished" / "a.pt"
    if spoil == "other_solver":
        with pytest.raises(Interrupt):
            train_group_checkpoints(str(mnist_h5_file), paths, MODELS_SECTION, {"batch_size": 16}, **sizes, log=interrupt_at("training b"))
    else:
        kept.parent.mkdir()
        kept.write_bytes(b"not a checkpoint")
    lines: list[str] = []
    train_group_checkpoints(str(mnist_h5_file), paths, MODELS_SECTION, {"batch_size": 32}, **sizes, log=lines.append)
    assert "training a" in lines
    assert any(line.startswith(f"not reusing {kept}") and reason in line for line in lines), lines
    assert load_model(paths["a"])[1]["solver"]["batch_size"] == 32


def test_unfinished_member_path_is_beside_the_outputs_but_not_one():
    assert str(unfinished_member_path("results/models/lenet_seed2.pt")) == "results/models/unfinished/lenet_seed2.pt"


def test_a_group_of_unknown_or_mismatched_models_is_refused_before_training(mnist_h5_file, tmp_path):
    paths = {name: str(tmp_path / f"{name}.pt") for name in ("a", "d")}
    with pytest.raises(ConfigError, match="share iterations and dropout"):
        train_group_checkpoints(str(mnist_h5_file), paths, MODELS_SECTION, {"batch_size": 32}, train_images=512, test_images=200, log=lambda _: None)
    assert list(tmp_path.iterdir()) == []


def test_train_checkpoint_records_the_spec_and_the_clean_error(mnist_h5_file, tmp_path):
    path = tmp_path / "models" / "a.pt"
    lines: list[str] = []
    metrics = train_checkpoint(str(mnist_h5_file), str(path), "a", MODELS_SECTION["a"], {"batch_size": 32, "log_every": 5}, 512, 200, log=lines.append)
    model, meta = load_model(path)
    assert isinstance(model, LeNet)
    assert (meta["name"], meta["arch"], meta["seed"], meta["train_images"]) == ("a", "lenet", 1, 512)
    assert meta["solver"]["iterations"] == 10 and meta["solver"]["batch_size"] == 32
    assert meta["metrics"]["clean_test_error"] == pytest.approx(metrics["clean_test_error"])
    assert metrics["test_images"] == 200 and 0.0 < metrics["clean_test_error"] < 1.0
    assert any("a: clean test error" in line for line in lines)


def test_train_dae_checkpoint_records_its_reconstruction_errors(mnist_h5_file, tmp_path):
    path = tmp_path / "dae" / "dae.pt"
    settings = {"seed": 2, "input_dropout": 0.2, "iterations": 5, "batch_size": 32, "learning_rate": 0.5, "momentum": 0.9, "log_every": 5}
    metrics = train_dae_checkpoint(str(mnist_h5_file), str(path), settings, train_images=256, test_images=100, log=lambda _: None)
    model, meta = load_model(path)
    assert isinstance(model, DenoisingAutoencoder) and model.dropout_rates == {"input": 0.2}
    assert (meta["name"], meta["arch"], meta["seed"], meta["train_images"]) == ("dae", "dae", 2, 256)
    assert meta["solver"]["iterations"] == 5 and meta["solver"]["learning_rate"] == 0.5
    for key in ("test_mse_clean_input", "test_mse_noisy_input", "test_mse_noisy_unreconstructed"):
        assert meta["metrics"][key] == pytest.approx(metrics[key]) and metrics[key] > 0, key


def test_the_caffe_example_dae_is_saved_as_the_sigmoid_dae_and_loads_as_a_method_preprocess(mnist_h5_file, tmp_path):
    from mnistrobust.nets.methods import build_preprocess

    path = tmp_path / "dae.pt"
    settings = {
        "seed": 2, "input_dropout": 0.5, "iterations": 3, "batch_size": 20, "learning_rate": 0.01, "momentum": 0.95,
        "log_every": 3, "recipe": "caffe_example", "weight_decay": 5e-4, "lr_step": 2, "lr_gamma": 0.1,
    }
    train_dae_checkpoint(str(mnist_h5_file), str(path), settings, train_images=128, test_images=50, log=quiet)
    model, meta = load_model(path)
    assert meta["arch"] == "dae_sigmoid" and model.hidden == "sigmoid" and model.dropout_rates == {"input": 0.5}
    assert meta["solver"]["recipe"] == "caffe_example" and meta["solver"]["lr_step"] == 2
    assert build_preprocess("dae", {}, (model, meta)) is model


# ------------------------------------------------------------------ adversarial pools and stages

SETTINGS = {"base_model": "lenet", "stages": 2, "iterations_per_stage": 5, "eps": 0.2, "c": 0.5, "batch_size": 7}
SOLVER = {"batch_size": 16, "base_lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4, "lr_gamma": 1e-4, "lr_power": 0.75, "bias_lr_mult": 2.0, "log_every": 5}


@pytest.fixture
def base_checkpoint(tmp_path):
    path = tmp_path / "lenet.pt"
    save_checkpoint(path, seeded_lenet(), {"name": "lenet", "arch": "lenet", "dropout": {}, "seed": 1})
    return path


def test_make_pool_refuses_the_wrong_source_model(mnist_h5_file, tmp_path, base_checkpoint):
    with pytest.raises(DataError, match="stage 2 needs 'adv_stage1'"):
        make_pool(str(mnist_h5_file), base_checkpoint, tmp_path / "pool2.h5", 2, SETTINGS, train_images=20, log=quiet)
    assert not (tmp_path / "pool2.h5").exists()


def test_make_pool_stores_the_eq3_examples_with_what_made_them(mnist_h5_file, tmp_path, base_checkpoint):
    pool = tmp_path / "pool_stage1.h5"
    make_pool(str(mnist_h5_file), base_checkpoint, pool, 1, SETTINGS, train_images=20, log=quiet)
    images, labels = load_pool(pool, AdversarialSettings(**SETTINGS).pool_attrs(1))
    assert images.shape == (20, 1, 28, 28) and len(labels) == 20
    assert images.min() >= 0 and images.max() <= 1
    clean, clean_labels = load_split(mnist_h5_file, "train", limit=20)
    assert torch.equal(labels, clean_labels)
    torch.testing.assert_close(images, generate_pool(seeded_lenet(), clean, clean_labels, 0.2, 0.5))


def test_two_stages_end_to_end_and_mismatches_named(mnist_h5_file, tmp_path, base_checkpoint):
    data = str(mnist_h5_file)
    pool1 = tmp_path / "pool_stage1.h5"
    make_pool(data, base_checkpoint, pool1, 1, SETTINGS, train_images=64, log=quiet)
    stage1 = tmp_path / "stage1.pt"
    common = {"settings": SETTINGS, "solver": SOLVER, "base_iterations": 100, "train_images": 64, "test_images": 50, "log": quiet}
    train_stage(data, base_checkpoint, [pool1], stage1, stage=1, **common)
    meta = read_checkpoint(stage1)["meta"]
    assert (meta["name"], meta["stage"], meta["parent"], meta["start_iteration"]) == ("adv_stage1", 1, "lenet", 100)
    assert meta["train_images"] == 128  # natural + one pool
    assert meta["seed"] == AdversarialSettings(**SETTINGS).stage_seed(1, 1)
    # Stage 2 must continue stage 1 and train on pools 1 and 2 in order.
    with pytest.raises(DataError, match="stage 2 continues 'adv_stage1'"):
        train_stage(data, base_checkpoint, [pool1, pool1], tmp_path / "stage2.pt", stage=2, **common)
    pool2 = tmp_path / "pool_stage2.h5"
    make_pool(data, stage1, pool2, 2, SETTINGS, train_images=64, log=quiet)
    with pytest.raises(DataError, match="stage=2"):
        train_stage(data, stage1, [pool2, pool2], tmp_path / "stage2.pt", stage=2, **common)
    assert not (tmp_path / "stage2.pt").exists()
    train_stage(data, stage1, [pool1, pool2], tmp_path / "stage2.pt", stage=2, **common)
    assert read_checkpoint(tmp_path / "stage2.pt")["meta"]["start_iteration"] == 105


@pytest.mark.parametrize("placement", ["caffe", "after_pooling"])
def test_a_checkpoint_records_the_dropout_placement_it_was_trained_with(mnist_h5_file, tmp_path, placement):
    spec = {"arch": "lenet", "seed": 1, "iterations": 4, "dropout": {"conv1": 0.2, "output": 0.5}}
    path = tmp_path / "all.pt"
    train_checkpoint(
        str(mnist_h5_file), str(path), "all", {**spec, "dropout_placement": placement},
        {"batch_size": 16, "log_every": 2}, 128, 64, log=quiet,
    )
    model, meta = load_model(path)
    assert meta["dropout_placement"] == placement and model.placement == placement


def test_the_placements_train_different_weights_from_the_same_seed(mnist_h5_file, tmp_path):
    spec = {"arch": "lenet", "seed": 1, "iterations": 3, "dropout": {"conv1": 0.2, "output": 0.5}}
    weights = []
    for placement in ("caffe", "after_pooling"):
        path = tmp_path / f"{placement}.pt"
        train_checkpoint(
            str(mnist_h5_file), str(path), placement, {**spec, "dropout_placement": placement},
            {"batch_size": 16, "log_every": 3}, 128, 64, log=quiet,
        )
        weights.append(load_model(path)[0].ip1.weight)
    assert not torch.equal(*weights)



@pytest.mark.parametrize("order", ["database", "shuffled"])
def test_the_training_job_trains_in_the_specs_sample_order_and_records_it(mnist_h5_file, tmp_path, order):
    spec = {"arch": "lenet", "seed": 1, "iterations": 3, "dropout": {}, "sample_order": order}
    path = tmp_path / "lenet.pt"
    train_checkpoint(str(mnist_h5_file), str(path), "lenet", spec, {"batch_size": 16, "log_every": 3}, 128, 64, log=quiet)
    model, meta = load_model(path)
    assert meta["sample_order"] == order
    images, labels = load_split(mnist_h5_file, "train", limit=128)
    expected = seeded_lenet(1)
    train(expected, images, labels, SolverSettings(iterations=3, batch_size=16, log_every=3), seed=1, log=quiet, sample_order=order)
    torch.testing.assert_close(model.ip1.weight, expected.ip1.weight, atol=0, rtol=0)
