"""Tests for mnistrobust.attacks: gradient sign (Eq. 1), Gaussian noise, Eq. 2 and Eq. 3."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from mnistrobust.attacks import (
    add_gaussian_noise,
    apply_sign,
    clip_unit,
    distortion,
    eq3_examples,
    fgsm,
    gradient_sign,
    input_gradient,
)
from mnistrobust.models import LeNet

from model_support import random_set, seeded_lenet


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _linear_model(seed: int = 0, dtype=torch.float32) -> nn.Sequential:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.LogSoftmax(1)).to(dtype)
    with torch.no_grad():
        model[1].weight.normal_(0.0, 0.1, generator=_gen(seed))
        model[1].bias.normal_(0.0, 0.1, generator=_gen(seed + 1))
    return model.eval()


def _reference_grad(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.nll_loss(model(x), y, reduction="sum"), x)
    return grad


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


def test_gradient_sign_on_linear_model_matches_analytic_gradient():
    model = _linear_model(3, torch.float64)
    x, y = random_set(4, seed=3, dtype=torch.float64)
    weight = model[1].weight.detach()
    probs = torch.softmax(x.flatten(1) @ weight.T + model[1].bias.detach(), dim=1)
    analytic = ((probs - F.one_hot(y, 10).double()) @ weight).reshape(x.shape)
    torch.testing.assert_close(input_gradient(model, x, y), analytic, atol=1e-12, rtol=1e-10)
    assert torch.equal(gradient_sign(model, x, y), analytic.sign().to(torch.int8))


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


def test_apply_sign_unclipped_moves_each_nonzero_sign_pixel_by_exactly_eps():
    x, _ = random_set(6, low=0.3, high=0.7)
    sign = torch.randint(-1, 2, x.shape, generator=_gen(1), dtype=torch.int8)
    assert (sign == 0).any() and (sign != 0).any()
    eps = 0.1
    out = apply_sign(x, sign, eps)
    change = out - x
    torch.testing.assert_close(change, eps * sign.float(), atol=1e-6, rtol=0)
    assert torch.equal(out[sign == 0], x[sign == 0])
    fraction = (sign != 0).float().mean().item()
    assert distortion(out, x) == pytest.approx(eps * fraction, abs=1e-6)
    assert torch.equal(x, random_set(6, low=0.3, high=0.7)[0])  # input not modified in place


def test_apply_sign_all_nonzero_gives_distortion_eps():
    x, _ = random_set(4, low=0.3, high=0.7)
    sign = torch.where(torch.rand(x.shape, generator=_gen(2)) < 0.5, -1, 1).to(torch.int8)
    assert distortion(apply_sign(x, sign, 0.1), x) == pytest.approx(0.1, abs=1e-6)


def test_apply_sign_with_clipping_stays_in_unit_range():
    x, _ = random_set(6)
    sign = torch.randint(-1, 2, x.shape, generator=_gen(4), dtype=torch.int8)
    eps = 0.3
    out = apply_sign(x, sign, eps)
    assert out.min().item() >= 0.0 and out.max().item() <= 1.0
    assert (out == 0).any() and (out == 1).any()  # clipping did happen
    dist = distortion(out, x)
    fraction = (sign != 0).float().mean().item()
    assert dist < eps * fraction - 1e-3  # clipping strictly reduces it here
    assert (out - x).abs().max().item() <= eps + 1e-6
    torch.testing.assert_close(out, (x + eps * sign.float()).clamp(0, 1))


def test_fgsm_is_apply_sign_of_gradient_sign():
    model = seeded_lenet(1)
    x, y = random_set(5, seed=1)
    sign = gradient_sign(model, x, y)
    assert torch.equal(fgsm(model, x, y, 0.1), apply_sign(x, sign, 0.1))


def test_fgsm_raises_the_loss():
    model = _linear_model(0)
    x, y = random_set(16, low=0.2, high=0.8)
    clean = F.nll_loss(model(x), y).item()
    adversarial = F.nll_loss(model(fgsm(model, x, y, 0.05)), y).item()
    assert adversarial > clean + 0.1


def test_gaussian_noise_is_reproducible_and_clipped():
    x, _ = random_set(4)
    a = add_gaussian_noise(x, 0.3, _gen(5))
    b = add_gaussian_noise(x, 0.3, _gen(5))
    c = add_gaussian_noise(x, 0.3, _gen(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert a.min().item() >= 0.0 and a.max().item() <= 1.0
    assert (a == 0).any() and (a == 1).any()
    assert a.shape == x.shape and a.dtype == x.dtype


def test_gaussian_noise_has_requested_sigma_when_unclipped():
    x = torch.full((16, 1, 28, 28), 0.5)
    noisy = add_gaussian_noise(x, 0.02, _gen(0))
    assert (noisy - x).std().item() == pytest.approx(0.02, rel=0.03)
    assert torch.equal(add_gaussian_noise(x, 0.0, _gen(0)), x)


def test_clip_unit():
    t = torch.tensor([-0.5, 0.0, 0.25, 1.0, 1.5])
    assert torch.equal(clip_unit(t), torch.tensor([0.0, 0.0, 0.25, 1.0, 1.0]))


def test_distortion_is_mean_absolute_change():
    a = torch.tensor([[0.0, 0.5], [1.0, 0.2]])
    b = torch.tensor([[0.1, 0.5], [0.7, 0.6]])
    assert distortion(a, b) == pytest.approx((0.1 + 0.0 + 0.3 + 0.4) / 4)


@pytest.mark.parametrize("eps, c", [(0.1, 0.5), (0.05, 2.0), (0.2, 0.0)])
def test_eq3_matches_hand_computation_on_linear_model(eps, c):
    model = _linear_model(7, torch.float64)
    x, y = random_set(6, seed=7, dtype=torch.float64)
    weight = model[1].weight.detach()
    bias = model[1].bias.detach()
    onehot = F.one_hot(y, 10).double()

    def hand_grad(images):  # d/dX sum NLL(log_softmax(W X + b)) = W^T (softmax - onehot)
        probs = torch.softmax(images.flatten(1) @ weight.T + bias, dim=1)
        return ((probs - onehot) @ weight).reshape(images.shape)

    shifted = x + eps * hand_grad(x).sign()  # X + R, not clipped before the second gradient
    expected = (shifted + c * hand_grad(shifted)).clamp(0.0, 1.0)
    out = eq3_examples(model, x, y, eps, c)
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=0)
    assert out.min().item() >= 0.0 and out.max().item() <= 1.0
    # The test exercises both clipped and unclipped pixels.
    assert ((out == 0) | (out == 1)).any() and ((out > 0) & (out < 1)).any()
    if c == 0:
        torch.testing.assert_close(out, apply_sign(x, gradient_sign(model, x, y), eps), atol=1e-12, rtol=0)
    else:
        # The gradient step really contributes.
        assert not torch.allclose(out, (x + eps * hand_grad(x).sign()).clamp(0, 1))
