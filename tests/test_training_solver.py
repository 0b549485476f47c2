"""Tests for mnistrobust.training: the Caffe "inv" schedule, Caffe SGD, sampling, determinism."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from mnistrobust.errors import ConfigError
from mnistrobust.training import CaffeSGD, EpochSampler, SolverSpec, train

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
    spec = SolverSpec()
    assert spec.learning_rate(0) == pytest.approx(0.01)
    assert spec.learning_rate(10_000) == pytest.approx(0.01 * 2.0**-0.75)
    assert spec.learning_rate(10_000) == pytest.approx(0.005946, abs=1e-6)
    assert spec.learning_rate(5_000) == pytest.approx(0.01 * 1.5**-0.75)
    custom = SolverSpec(base_lr=0.1, lr_gamma=1e-3, lr_power=0.5)
    assert custom.learning_rate(3000) == pytest.approx(0.1 * 4.0**-0.5)


def test_default_spec_is_caffe_lenet_solver():
    spec = SolverSpec()
    assert (spec.iterations, spec.batch_size, spec.base_lr, spec.momentum, spec.weight_decay) == (
        10_000,
        64,
        0.01,
        0.9,
        5e-4,
    )
    assert spec.bias_lr_mult == 2.0


@pytest.mark.parametrize("kwargs", [{"iterations": 0}, {"batch_size": 0}, {"iterations": -5}])
def test_spec_rejects_non_positive_sizes(kwargs):
    with pytest.raises(ConfigError):
        SolverSpec(**kwargs)


# ------------------------------------------------------------------ optimiser


def test_caffe_sgd_matches_hand_computation_over_two_steps():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    spec = SolverSpec(momentum=0.9, weight_decay=5e-4)
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
    optimizer = CaffeSGD(seeded_lenet(), SolverSpec())
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


# ------------------------------------------------------------------ training


def _train(seed: int, dropout=None, iterations: int = 30):
    images, labels = random_set(256)
    model = seeded_lenet(0, dropout)
    spec = SolverSpec(iterations=iterations, batch_size=64, log_every=10)
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
    spec = SolverSpec(iterations=100, batch_size=64, log_every=20)
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
    spec = SolverSpec(iterations=3, batch_size=32, log_every=10)
    train(seeded_lenet(0), images, labels, spec, seed=0, log=_quiet, start_iteration=10_000)
    assert seen == pytest.approx([spec.learning_rate(10_000 + i) for i in range(3)])
