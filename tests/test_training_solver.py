"""Tests for mnistrobust.training.solver: the Caffe "inv" schedule, Caffe SGD, sampling,
determinism, and a LeNetGroup trained as each member would be alone."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from mnistrobust.errors import ConfigError
from mnistrobust.nets.models import LeNetGroup, module_device
from mnistrobust.training.solver import (
    CaffeSGD,
    DatabaseSampler,
    EpochSampler,
    SolverSettings,
    checkpoint_meta,
    make_sampler,
    train,
    train_group,
)

from model_support import random_set, seeded_lenet


def _quiet(_message: str) -> None:
    pass


def _quadrant_set(n: int = 512, seed: int = 0):
    """Dim noisy images with one bright 14x14 quadrant; the label is the quadrant (0..3)."""
    g = torch.Generator().manual_seed(seed)
    images = 0.1 * torch.rand(n, 1, 28, 28, generator=g)
    labels = torch.randint(0, 4, (n,), generator=g)
    for i, label in enumerate(labels.tolist()):
        row, col = divmod(label, 2)
        patch = 0.6 + 0.4 * torch.rand(14, 14, generator=g)
        images[i, 0, 14 * row : 14 * row + 14, 14 * col : 14 * col + 14] = patch
    return images, labels


# ------------------------------------------------------------------ schedule


def test_inv_learning_rate_schedule():
    spec = SolverSettings()
    assert spec.learning_rate(0) == pytest.approx(0.01)
    assert spec.learning_rate(10_000) == pytest.approx(0.01 * 2.0**-0.75)
    assert spec.learning_rate(10_000) == pytest.approx(0.005946, abs=1e-6)
    assert spec.learning_rate(5_000) == pytest.approx(0.01 * 1.5**-0.75)
    custom = SolverSettings(base_lr=0.1, lr_gamma=1e-3, lr_power=0.5)
    assert custom.learning_rate(3000) == pytest.approx(0.1 * 4.0**-0.5)


def test_default_spec_is_caffe_lenet_solver():
    spec = SolverSettings()
    assert (spec.iterations, spec.batch_size, spec.base_lr, spec.momentum, spec.weight_decay) == (
        10_000,
        64,
        0.01,
        0.9,
        5e-4,
    )
    assert spec.bias_lr_mult == 2.0


# ------------------------------------------------------------------ optimiser


def test_caffe_sgd_matches_hand_computation_over_two_steps():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    spec = SolverSettings(momentum=0.9, weight_decay=5e-4)
    optimizer = CaffeSGD(model, spec)
    w0, b0 = model.weight.detach().clone(), model.bias.detach().clone()
    g_w1, g_b1 = torch.randn(2, 3), torch.randn(2)
    g_w2, g_b2 = torch.randn(2, 3), torch.randn(2)
    lr1, lr2 = 0.01, 0.005

    model.weight.grad, model.bias.grad = g_w1.clone(), g_b1.clone()
    optimizer.step(lr1)
    v_w = lr1 * (g_w1 + 5e-4 * w0)
    v_b = 2 * lr1 * (g_b1 + 5e-4 * b0)  # biases get twice the rate
    w1, b1 = w0 - v_w, b0 - v_b
    torch.testing.assert_close(model.weight.detach(), w1, atol=1e-7, rtol=1e-6)
    torch.testing.assert_close(model.bias.detach(), b1, atol=1e-7, rtol=1e-6)

    optimizer.zero_grad()
    assert model.weight.grad is None and model.bias.grad is None
    model.weight.grad, model.bias.grad = g_w2.clone(), g_b2.clone()
    optimizer.step(lr2)
    v_w = 0.9 * v_w + lr2 * (g_w2 + 5e-4 * w1)
    v_b = 0.9 * v_b + 2 * lr2 * (g_b2 + 5e-4 * b1)
    torch.testing.assert_close(model.weight.detach(), w1 - v_w, atol=1e-7, rtol=1e-6)
    torch.testing.assert_close(model.bias.detach(), b1 - v_b, atol=1e-7, rtol=1e-6)


def test_caffe_sgd_bias_multiplier_applies_to_lenet_biases_only():
    optimizer = CaffeSGD(seeded_lenet(), SolverSettings())
    names = [name for name, _ in seeded_lenet().named_parameters()]
    mults = dict(zip(names, optimizer.lr_mults))
    assert mults == {
        "conv1.weight": 1.0,
        "conv1.bias": 2.0,
        "conv2.weight": 1.0,
        "conv2.bias": 2.0,
        "ip1.weight": 1.0,
        "ip1.bias": 2.0,
        "ip2.weight": 1.0,
        "ip2.bias": 2.0,
    }


# ------------------------------------------------------------------ sampler


def test_epoch_sampler_covers_every_index_once_per_epoch():
    sampler = EpochSampler(12, 4, seed=3)
    orders = []
    for _epoch in range(3):
        epoch = torch.cat([sampler.next_indices() for _ in range(3)])
        assert sorted(epoch.tolist()) == list(range(12))
        orders.append(epoch.tolist())
    assert len({tuple(o) for o in orders}) > 1  # reshuffled between epochs


def test_epoch_sampler_never_repeats_within_epoch_when_batch_does_not_divide():
    sampler = EpochSampler(10, 3, seed=0)
    for _epoch in range(4):
        epoch = torch.cat([sampler.next_indices() for _ in range(3)]).tolist()
        assert len(epoch) == 9 and len(set(epoch)) == 9
        assert all(0 <= i < 10 for i in epoch)


def test_epoch_sampler_is_seeded():
    a, b, c = EpochSampler(50, 8, 1), EpochSampler(50, 8, 1), EpochSampler(50, 8, 2)
    seq_a = [a.next_indices() for _ in range(10)]
    seq_b = [b.next_indices() for _ in range(10)]
    seq_c = [c.next_indices() for _ in range(10)]
    assert all(torch.equal(x, y) for x, y in zip(seq_a, seq_b))
    assert not all(torch.equal(x, y) for x, y in zip(seq_a, seq_c))
    assert all(len(x) == 8 for x in seq_a)


def test_epoch_sampler_rejects_set_smaller_than_batch():
    with pytest.raises(ConfigError):
        EpochSampler(10, 64, seed=0)


def test_database_sampler_reads_the_set_in_order_and_wraps_across_its_end():
    sampler = DatabaseSampler(10, 4)
    batches = [sampler.next_indices().tolist() for _ in range(4)]
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 1], [2, 3, 4, 5]]


def test_make_sampler_seeds_only_the_shuffle():
    database = [make_sampler(20, 4, seed, "database").next_indices() for seed in (1, 2)]
    assert torch.equal(*database)
    shuffled = [make_sampler(20, 4, seed, "shuffled").next_indices() for seed in (1, 2)]
    assert not torch.equal(*shuffled)
    with pytest.raises(ConfigError, match="unknown sample order 'random'"):
        make_sampler(20, 4, 1, "random")
    with pytest.raises(ConfigError, match="smaller than one batch"):
        DatabaseSampler(3, 4)


# ------------------------------------------------------------------ training


def _train(seed: int, dropout=None, iterations: int = 30):
    images, labels = random_set(256)
    model = seeded_lenet(0, dropout)
    spec = SolverSettings(iterations=iterations, batch_size=64, log_every=10)
    metrics = train(model, images, labels, spec, seed=seed, log=_quiet)
    return model, metrics


@pytest.mark.parametrize("dropout", [None, {"input": 0.2, "full": 0.5}], ids=["plain", "dropout"])
def test_training_is_bit_reproducible_and_seed_dependent(dropout):
    first, metrics = _train(1, dropout)
    second, _ = _train(1, dropout)
    other, _ = _train(2, dropout)
    assert not first.training  # train() leaves the model in eval mode
    assert set(metrics) >= {"train_seconds", "images_per_second", "final_loss"}
    s1, s2, s3 = first.state_dict(), second.state_dict(), other.state_dict()
    for key in s1:
        assert torch.equal(s1[key], s2[key]), key
    assert any(not torch.equal(s1[key], s3[key]) for key in s1)
    # Training changed the initial weights.
    initial = seeded_lenet(0, dropout).state_dict()
    assert not torch.equal(s1["ip2.weight"], initial["ip2.weight"])


def test_training_reduces_loss_on_learnable_task():
    images, labels = _quadrant_set(512)
    model = seeded_lenet(0)
    with torch.no_grad():
        before = F.nll_loss(model.eval()(images), labels).item()
    spec = SolverSettings(iterations=100, batch_size=64, log_every=20)
    messages = []
    metrics = train(model, images, labels, spec, seed=0, log=messages.append)
    with torch.no_grad():
        output = model(images)
    after = F.nll_loss(output, labels).item()
    accuracy = (output.argmax(1) == labels).float().mean().item()
    assert before > 1.0
    assert after < 0.25 * before
    assert metrics["final_loss"] < 0.5 * before
    assert accuracy > 0.9
    assert len(messages) == 5 and "iteration 100/100" in messages[-1]


def test_start_iteration_continues_schedule(monkeypatch):
    seen = []
    original = CaffeSGD.step

    def recording_step(self, lr):
        seen.append(lr)
        return original(self, lr)

    monkeypatch.setattr(CaffeSGD, "step", recording_step)
    images, labels = random_set(64)
    spec = SolverSettings(iterations=3, batch_size=32, log_every=10)
    train(seeded_lenet(0), images, labels, spec, seed=0, log=_quiet, start_iteration=10_000)
    assert seen == pytest.approx([spec.learning_rate(10_000 + i) for i in range(3)])


def test_perturb_batch_replaces_each_batch_in_train_mode():
    seen = []

    def perturb(model, batch, labels):
        seen.append((model.training, len(batch), len(labels)))
        return torch.zeros_like(batch)

    images, labels = random_set(64)
    spec = SolverSettings(iterations=3, batch_size=16, log_every=10)
    perturbed = seeded_lenet(0, {"full": 0.5})
    train(perturbed, images, labels, spec, seed=0, log=_quiet, perturb_batch=perturb)
    assert seen == [(True, 16, 16)] * 3
    # The same training as on blank images from the start: the batches were replaced, nothing else.
    blank = seeded_lenet(0, {"full": 0.5})
    train(blank, torch.zeros_like(images), labels, spec, seed=0, log=_quiet)
    for key, tensor in blank.state_dict().items():
        assert torch.equal(perturbed.state_dict()[key], tensor), key
    trained_on_images = seeded_lenet(0, {"full": 0.5})
    train(trained_on_images, images, labels, spec, seed=0, log=_quiet)
    assert not torch.equal(trained_on_images.ip1.weight, perturbed.ip1.weight)


def test_checkpoint_meta_records_how_a_network_was_made():
    spec = SolverSettings(iterations=20)
    meta = checkpoint_meta("lenet", {"arch": "lenet", "dropout": {"input": 0.2}, "seed": 3}, spec, 512, {"train_seconds": 1.5, "final_loss": 0.25})
    assert meta == {
        "name": "lenet",
        "arch": "lenet",
        "dropout": {"input": 0.2},
        "seed": 3,
        "solver": {**SolverSettings().__dict__, "iterations": 20},
        "train_images": 512,
        "metrics": {"final_loss": 0.25},  # wall-clock seconds are not a property of the network
    }
    assert module_device(seeded_lenet()) == torch.device("cpu")


# ------------------------------------------------------------------ groups


def test_grouped_training_matches_training_each_member_alone():
    """Same init, same per-member sample order, each member's own mean loss: the weights
    after 15 steps agree with one-by-one training up to summation order. In float64: in
    float32 two pooled values within rounding of each other (there are ~10^5 pool windows
    per step) can make grouped and single convolutions pick different maxima, which sends
    a step's gradient elsewhere (seen on an AVX-512 CPU: 1e-2 in one member's first step);
    that is max-pooling's discontinuity, not a difference in what the group computes."""
    images, labels = random_set(256, dtype=torch.float64)
    spec = SolverSettings(iterations=15, batch_size=16, log_every=1000)
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
        train_group(group, images, labels, SolverSettings(iterations=1, batch_size=16), [1], log=lambda _: None)


def test_networks_with_one_sample_seed_draw_the_same_batches():
    """sample_seed: the batch order of Caffe's fixed database order, shared by networks that
    differ only in their initialisation; without it each draws its own from its seed."""
    images = torch.rand(40, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(40) % 10
    spec = SolverSettings(iterations=3, batch_size=8, log_every=3)
    seen = {}
    for name, seed, sample_seed in (("a", 2, 1), ("b", 3, 1), ("c", 3, None)):
        drawn = []

        def record(model, batch, batch_labels, drawn=drawn):
            drawn.append(batch_labels.clone())
            return batch

        train(seeded_lenet(seed), images, labels, spec, seed=seed, log=lambda _: None, sample_seed=sample_seed, perturb_batch=record)
        seen[name] = torch.stack(drawn)
    assert torch.equal(seen["a"], seen["b"])
    assert not torch.equal(seen["b"], seen["c"])


def test_a_group_draws_each_members_batches_from_its_sample_seed():
    images = torch.rand(40, 1, 28, 28, generator=torch.Generator().manual_seed(0)).double()
    labels = torch.arange(40) % 10
    spec = SolverSettings(iterations=4, batch_size=8, log_every=4)
    alone = seeded_lenet(3).double()
    train(alone, images, labels, spec, seed=3, log=lambda _: None, sample_seed=1)
    group = LeNetGroup([seeded_lenet(seed).double() for seed in (2, 3)])
    train_group(group, images, labels, spec, [2, 3], log=lambda _: None, sample_seeds=[1, 1])
    torch.testing.assert_close(group.member_state_dicts()[1]["ip1.weight"], alone.ip1.weight, atol=1e-10, rtol=0)


def _drawn_batches(seed: int, **train_kwargs) -> torch.Tensor:
    """The training batches (as images) a LeNet of ``seed`` draws over 6 steps."""
    images = torch.rand(40, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(40) % 10
    drawn = []

    def record(model, batch, batch_labels):
        drawn.append(batch.clone())
        return batch

    spec = SolverSettings(iterations=6, batch_size=16, log_every=6)
    train(seeded_lenet(seed), images, labels, spec, seed=seed, log=lambda _: None, perturb_batch=record, **train_kwargs)
    return torch.stack(drawn)


def test_database_order_gives_every_network_the_stored_order():
    images = torch.rand(40, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    stored = torch.cat([images] * 3)[: 6 * 16].view(6, 16, 1, 28, 28)  # 96 images: 2.4 passes
    for seed in (2, 5):
        assert torch.equal(_drawn_batches(seed, sample_order="database"), stored)
    assert not torch.equal(_drawn_batches(2), _drawn_batches(5))


def test_a_group_in_database_order_matches_its_members_trained_alone():
    images = torch.rand(40, 1, 28, 28, generator=torch.Generator().manual_seed(0)).double()
    labels = torch.arange(40) % 10
    spec = SolverSettings(iterations=4, batch_size=16, log_every=4)
    alone = seeded_lenet(3).double()
    train(alone, images, labels, spec, seed=3, log=lambda _: None, sample_order="database")
    group = LeNetGroup([seeded_lenet(seed).double() for seed in (2, 3)])
    train_group(group, images, labels, spec, [2, 3], log=lambda _: None, sample_order="database")
    torch.testing.assert_close(group.member_state_dicts()[1]["ip1.weight"], alone.ip1.weight, atol=1e-10, rtol=0)

