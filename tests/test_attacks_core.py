"""Tests for mnistrobust.attacks.core, the one core every attack stands on: the input
gradient (with EOT), its sign (Eq. 1's direction), projection and clipping, Eq. 2,
predictions and margins, and eval mode for the length of an attack."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from mnistrobust.attacks import STRONG_ATTACKS, AutoAttack
from mnistrobust.attacks.core import (
    absolute_change,
    clip_unit,
    distortion,
    evaluating,
    fixed_examples_outcome,
    frozen_parameters,
    gradient_sign,
    input_gradient,
    is_randomized,
    margin,
    predictions,
    project,
    random_start,
    total_absolute_change,
)
from mnistrobust.config import AutoAttackSettings, StrongAttackSettings
from mnistrobust.nets.defenses import LowPassFilter
from mnistrobust.nets.models import LeNet, Stacked

from model_support import STRONG_ATTACKS_SECTION, labelled_by, linear_classifier, quiet, random_set, seeded_generator, seeded_lenet


def _reference_grad(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.nll_loss(model(x), y, reduction="sum"), x)
    return grad


# ------------------------------------------------------------------ the input gradient and its sign


@pytest.mark.parametrize("batch_size", [3, 8, 1000])
def test_gradient_sign_matches_independent_autograd(batch_size):
    model = seeded_lenet(0)
    x, y = random_set(8)
    sign = gradient_sign(model, x, y, batch_size=batch_size)
    assert sign.dtype == torch.int8
    assert sign.shape == x.shape
    expected = torch.cat(
        [_reference_grad(model, x[i : i + batch_size], y[i : i + batch_size]).sign() for i in range(0, 8, batch_size)]
    ).to(torch.int8)
    assert torch.equal(sign, expected)
    # A meaningful gradient: mostly non-zero, both signs present.
    assert (sign != 0).float().mean() > 0.5
    assert (sign > 0).any() and (sign < 0).any()


def test_input_gradient_on_linear_model_matches_analytic_gradient():
    model = linear_classifier(3, torch.float64)
    x, y = random_set(4, seed=3, dtype=torch.float64)
    weight = model[1].weight.detach()
    probs = torch.softmax(x.flatten(1) @ weight.T + model[1].bias.detach(), dim=1)
    analytic = ((probs - F.one_hot(y, 10).double()) @ weight).reshape(x.shape)
    grad, log_probs = input_gradient(model, x, y)
    torch.testing.assert_close(grad, analytic, atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(log_probs, probs.log(), atol=1e-12, rtol=1e-10)  # the forward pass comes with it
    assert not log_probs.requires_grad
    assert torch.equal(gradient_sign(model, x, y), analytic.sign().to(torch.int8))


def test_input_gradient_in_channels_last_is_the_same_gradient():
    model = seeded_lenet(2)
    x, y = random_set(6, seed=2)
    plain, plain_log_probs = input_gradient(model, x, y)
    fast, fast_log_probs = input_gradient(model, x, y, channels_last=True)
    torch.testing.assert_close(fast, plain, atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(fast_log_probs, plain_log_probs, atol=1e-5, rtol=1e-5)


def test_gradient_sign_restores_training_mode_and_uses_eval_mode():
    model = LeNet({"input": 0.5, "full": 0.5})
    model.reset_parameters(0)
    model.train()
    x, y = random_set(4)
    first = gradient_sign(model, x, y)
    second = gradient_sign(model, x, y)
    assert model.training  # restored
    assert torch.equal(first, second)  # dropout was off while computing
    plain = seeded_lenet(0)
    assert torch.equal(first, gradient_sign(plain, x, y))


def test_input_gradient_does_not_touch_inputs_or_parameters():
    model = seeded_lenet(0)
    x, y = random_set(2)
    before = x.clone()
    input_gradient(model, x, y)
    assert torch.equal(x, before)
    assert not x.requires_grad
    assert all(p.grad is None for p in model.parameters())


def test_frozen_parameters_skip_weight_gradients_and_restore_the_flags():
    """A library attack's backward() then computes the input's gradient alone, the same one."""
    model = seeded_lenet(0)
    model.ip2.bias.requires_grad_(False)  # a parameter frozen before stays frozen after
    x, y = random_set(3)
    expected, _ = input_gradient(model, x, y)
    with frozen_parameters(model) as frozen:
        assert not any(p.requires_grad for p in frozen.parameters())
        inputs = x.clone().requires_grad_(True)
        F.nll_loss(frozen(inputs), y, reduction="sum").backward()
    assert all(p.grad is None for p in model.parameters())
    torch.testing.assert_close(inputs.grad, expected)
    assert [p.requires_grad for p in model.parameters()] == [True] * 7 + [False]
    with pytest.raises(RuntimeError), frozen_parameters(model):
        raise RuntimeError("an attack that fails")
    assert [p.requires_grad for p in model.parameters()] == [True] * 7 + [False]


def test_eot_draws_fresh_noise_per_copy_and_is_exact_for_deterministic_models():
    model, (x, y) = linear_classifier(), random_set(4)
    single, single_log_probs = input_gradient(model, x, y, 1)
    tripled, tripled_log_probs = input_gradient(model, x, y, 3)
    torch.testing.assert_close(tripled, 3 * single)
    torch.testing.assert_close(tripled_log_probs, single_log_probs)  # those of the first copy: one per image
    assert tripled_log_probs.shape == (4, 10)
    noisy = Stacked(LowPassFilter(3, 1.3, noise_sigma=0.3, seed=0), LeNet()).eval()
    noisy.classifier.reset_parameters(0)
    assert is_randomized(noisy) and not is_randomized(model)
    assert not is_randomized(Stacked(LowPassFilter(3, 1.3, noise_sigma=0.0), LeNet()))
    one, _ = input_gradient(noisy, x, y, 1)
    two, _ = input_gradient(noisy, x, y, 2)
    # Two fresh draws: the summed gradient is not twice a single draw's.
    assert not torch.allclose(two, 2 * one, atol=1e-6)


# ------------------------------------------------------------------ the unit box, the eps ball, Eq. 2


def test_clip_unit():
    t = torch.tensor([-0.5, 0.0, 0.25, 1.0, 1.5])
    assert torch.equal(clip_unit(t), torch.tensor([0.0, 0.0, 0.25, 1.0, 1.0]))


def test_project_onto_the_ball_then_into_the_unit_box():
    clean = torch.tensor([[0.5, 0.95, 0.05, 0.5]])
    moved = torch.tensor([[0.9, 1.3, -0.3, 0.45]])
    torch.testing.assert_close(project(moved, clean, 0.1), torch.tensor([[0.6, 1.0, 0.0, 0.45]]))
    # Per-row radii.
    clean2, moved2 = clean.repeat(2, 1), moved.repeat(2, 1)
    radii = torch.tensor([[0.1], [0.3]])
    torch.testing.assert_close(project(moved2, clean2, radii), torch.tensor([[0.6, 1.0, 0.0, 0.45], [0.8, 1.0, 0.0, 0.45]]))


def test_random_start_is_seeded_inside_the_ball_and_the_box():
    clean, _ = random_set(8)
    first = random_start(clean, 0.1, seeded_generator(3))
    assert torch.equal(first, random_start(clean, 0.1, seeded_generator(3)))
    assert not torch.equal(first, random_start(clean, 0.1, seeded_generator(4)))
    assert (first - clean).abs().max() <= 0.1 + 1e-6 and first.min() >= 0 and first.max() <= 1
    assert (first - clean).abs().mean() > 0.02  # it spreads over the ball, not a point


def test_distortion_is_mean_absolute_change():
    a = torch.tensor([[[0.0, 0.5]], [[1.0, 0.2]]])
    b = torch.tensor([[[0.1, 0.5]], [[0.7, 0.6]]])
    torch.testing.assert_close(absolute_change(a, b), torch.tensor([0.1, 0.7], dtype=torch.float64))
    assert absolute_change(a, b).dtype == torch.float64
    total = total_absolute_change(a, b)
    assert total == pytest.approx(0.1 + 0.0 + 0.3 + 0.4)
    assert distortion(total, images=2, pixels_per_image=2) == pytest.approx((0.1 + 0.0 + 0.3 + 0.4) / 4)


# ------------------------------------------------------------------ predictions, margins, scoring fixed examples


def test_predictions_are_the_argmax_in_batches():
    model = seeded_lenet(1)
    x, _ = random_set(10, seed=1)
    with torch.no_grad():
        expected = model(x).argmax(1)
    assert torch.equal(predictions(model, x, batch_size=3), expected)


def test_margin_is_negative_exactly_when_misclassified():
    log_probs = torch.log_softmax(torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 1.0, 0.0]]), 1)
    labels = torch.tensor([0, 0, 1])
    torch.testing.assert_close(margin(log_probs, labels), torch.tensor([1.0, -3.0, 0.0]))


def test_fixed_examples_outcome_scores_each_eps_row():
    model = linear_classifier(4)
    x, y = labelled_by(model, 6, seed=4)
    eps = [0.05, 0.5]
    examples = torch.stack([clip_unit(x + e * torch.randn(x.shape, generator=seeded_generator(k))) for k, e in enumerate(eps)])
    outcome = fixed_examples_outcome(model, x, y, examples, eps, batch_size=4)
    assert outcome.eps == eps and outcome.fooled.shape == (2, 6) and outcome.abs_change.shape == (2, 6)
    for k in range(2):
        with torch.no_grad():
            assert torch.equal(outcome.fooled[k], model(examples[k]).argmax(1) != y)
        torch.testing.assert_close(outcome.abs_change[k], absolute_change(examples[k], x))
    assert outcome.error() == pytest.approx(outcome.fooled.double().mean(1).tolist())
    assert outcome.dist(784) == pytest.approx((outcome.abs_change.mean(1) / 784).tolist())


# ------------------------------------------------------------------ eval mode for the length of an attack


def _modes(model: nn.Module) -> list[bool]:
    return [module.training for module in model.modules()]


def test_evaluating_switches_dropout_off_and_restores_each_modules_mode_also_after_an_exception():
    model = LeNet({"input": 0.5, "full": 0.5})
    model.reset_parameters(0)
    model.train()
    model.ip1.eval()  # a mixed model comes back mixed, not all in one mode
    before = _modes(model)
    x, _ = random_set(4)
    with evaluating(model):
        assert not any(_modes(model))
        with torch.no_grad():
            assert torch.equal(model(x), model(x))  # dropout off
    assert _modes(model) == before
    with pytest.raises(RuntimeError), evaluating(model):
        raise RuntimeError("an attack that fails")
    assert _modes(model) == before


@pytest.mark.parametrize("name", ["fgsm", "pgd", "eot_pgd", "square"])
def test_every_registered_attack_leaves_the_models_mode_as_it_found_it(name):
    model = LeNet({"input": 0.2, "full": 0.5})
    model.reset_parameters(0)
    model.train()
    x, y = random_set(6)
    settings = StrongAttackSettings.from_config({**STRONG_ATTACKS_SECTION, "attacks": ["fgsm", "pgd", "eot_pgd", "square"]})
    STRONG_ATTACKS[name](settings, quiet, None).outcome(model, model, x, y, [0.05])
    assert all(_modes(model))


def test_autoattack_leaves_the_models_mode_as_it_found_it():
    model = LeNet({"full": 0.5})
    model.reset_parameters(0)
    model.train()
    x, y = random_set(2)
    AutoAttack(AutoAttackSettings(steps=2, square_queries=2)).examples(model, x, y, 0.05)
    assert all(_modes(model))
