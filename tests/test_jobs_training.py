"""Tests for grouped training: a LeNetGroup is K LeNets, trained as each would be alone."""

from __future__ import annotations

import pytest
import torch

from mnistrobust.checkpoints import load_model
from mnistrobust.errors import ConfigError
from mnistrobust.models import LeNet, LeNetGroup
from mnistrobust.naming import check_training_groups
from mnistrobust.training import SolverSpec, train, train_checkpoint, train_group, train_group_checkpoints

from model_support import random_set, seeded_lenet


def test_group_forward_equals_each_member_on_its_own_channel():
    members = [seeded_lenet(seed) for seed in (1, 2, 3)]
    group = LeNetGroup(members).eval()
    x = torch.rand(5, 3, 28, 28)
    out = group(x)
    assert out.shape == (3, 5, 10)
    for k, member in enumerate(members):
        torch.testing.assert_close(out[k], member.eval()(x[:, k : k + 1]), atol=1e-5, rtol=1e-5)


def test_member_state_dicts_round_trip_into_lenets():
    members = [seeded_lenet(seed) for seed in (4, 5)]
    group = LeNetGroup(members)
    for member, state in zip(members, group.member_state_dicts()):
        rebuilt = LeNet()
        rebuilt.load_state_dict(state)
        for name, tensor in member.state_dict().items():
            assert torch.equal(rebuilt.state_dict()[name], tensor), name


def test_group_rejects_members_with_different_dropout():
    with pytest.raises(ConfigError, match="dropout"):
        LeNetGroup([seeded_lenet(1), seeded_lenet(2, {"input": 0.2})])


def test_grouped_training_matches_training_each_member_alone():
    """Same init, same per-member sample order, each member's own mean loss: the weights
    after 15 steps agree with one-by-one training up to summation order. In float64: in
    float32 two pooled values within rounding of each other (there are ~10^5 pool windows
    per step) can make grouped and single convolutions pick different maxima, which sends
    a step's gradient elsewhere (seen on an AVX-512 CPU: 1e-2 in one member's first step);
    that is max-pooling's discontinuity, not a difference in what the group computes."""
    images, labels = random_set(256, dtype=torch.float64)
    spec = SolverSpec(iterations=15, batch_size=16, log_every=1000)
    seeds = [3, 7, 11]
    alone = [seeded_lenet(seed).double() for seed in seeds]
    losses = [train(model, images, labels, spec, seed=seed, log=lambda _: None)["final_loss"] for model, seed in zip(alone, seeds)]
    group = LeNetGroup([seeded_lenet(seed).double() for seed in seeds])
    metrics = train_group(group, images, labels, spec, seeds, log=lambda _: None)
    assert metrics["images_per_second"] > 0
    # reported per member (the running loss is summed in float32)
    assert metrics["final_loss"] == pytest.approx(sum(losses) / len(losses), rel=1e-6)
    for model, state in zip(alone, group.member_state_dicts()):
        for name, tensor in model.state_dict().items():
            torch.testing.assert_close(state[name], tensor, atol=1e-10, rtol=1e-9, msg=name)
    # and training moved the weights at all (the comparison above is not vacuous)
    assert not torch.equal(group.member_state_dicts()[0]["ip1.weight"], seeded_lenet(3).ip1.weight.double())


def test_group_needs_one_seed_per_member():
    group = LeNetGroup([seeded_lenet(1), seeded_lenet(2)])
    images, labels = random_set(64)
    with pytest.raises(ConfigError, match="2 seeds"):
        train_group(group, images, labels, SolverSpec(iterations=1, batch_size=16), [1], log=lambda _: None)


MODELS = {
    "a": {"arch": "lenet", "seed": 1, "iterations": 10, "dropout": {}},
    "b": {"arch": "lenet", "seed": 2, "iterations": 10, "dropout": {}},
    "c": {"arch": "lenet", "seed": 2, "iterations": 10, "dropout": {}},
    "d": {"arch": "lenet", "seed": 4, "iterations": 20, "dropout": {}},
    "e": {"arch": "lenet", "seed": 5, "iterations": 10, "dropout": {"input": 0.2}},
}


@pytest.mark.parametrize(
    "groups, message",
    [
        ({"g": ["a", "zz"]}, "unknown model"),
        ({"g": ["a", "b"], "h": ["b"]}, "in training groups"),
        ({"g": ["b", "c"]}, "repeat a seed"),
        ({"g": ["a", "d"]}, "share iterations and dropout"),
        ({"g": ["a", "e"]}, "share iterations and dropout"),
    ],
)
def test_training_group_config_errors_name_the_problem(groups, message):
    with pytest.raises(ConfigError, match=message):
        check_training_groups(groups, MODELS)


def test_group_checkpoints_on_the_cpu_are_the_checkpoints_train_model_makes(mnist_h5_file, tmp_path):
    """On the CPU a group trains its members one by one: bit-identical to train_checkpoint."""
    names = ["a", "b"]
    paths = {name: str(tmp_path / f"{name}.pt") for name in names}
    solver = {"batch_size": 32, "log_every": 5}
    quiet = {"train_images": 512, "test_images": 200, "log": lambda _: None}
    train_group_checkpoints(str(mnist_h5_file), paths, MODELS, solver, **quiet)
    alone = tmp_path / "b_alone.pt"
    train_checkpoint(str(mnist_h5_file), str(alone), "b", MODELS["b"], solver, **quiet)
    for name in names:
        model, meta = load_model(paths[name])
        assert isinstance(model, LeNet)
        assert meta["seed"] == MODELS[name]["seed"] and meta["trained_in_group_of"] == 2
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
        train_group_checkpoints(str(mnist_h5_file), paths, MODELS, solver, **sizes, log=interrupt_at("training b"))
    assert not any((tmp_path / f"{name}.pt").exists() for name in names)  # no output looks finished
    assert (tmp_path / "unfinished" / "a.pt").is_file()

    lines: list[str] = []
    train_group_checkpoints(str(mnist_h5_file), paths, MODELS, solver, **sizes, log=lines.append)
    assert "training a" not in lines and "training b" in lines
    assert any(line.startswith("a: kept from an interrupted run") for line in lines)
    assert not (tmp_path / "unfinished").exists()
    alone = tmp_path / "a_alone.pt"
    train_checkpoint(str(mnist_h5_file), str(alone), "a", MODELS["a"], solver, **sizes, log=lambda _: None)
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
            train_group_checkpoints(str(mnist_h5_file), paths, MODELS, {"batch_size": 16}, **sizes, log=interrupt_at("training b"))
    else:
        kept.parent.mkdir()
        kept.write_bytes(b"not a checkpoint")
    lines: list[str] = []
    train_group_checkpoints(str(mnist_h5_file), paths, MODELS, {"batch_size": 32}, **sizes, log=lines.append)
    assert "training a" in lines
    assert any(line.startswith(f"not reusing {kept}") and reason in line for line in lines), lines
    assert load_model(paths["a"])[1]["solver"]["batch_size"] == 32
