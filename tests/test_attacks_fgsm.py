"""Tests for mnistrobust.attacks.fgsm: the gradient-sign method (Eq. 1) and the paper's Eq. 3
examples for adversarial training."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from mnistrobust.attacks import FGSM, Eq3
from mnistrobust.attacks.core import absolute_change, distortion, gradient_sign, total_absolute_change
from mnistrobust.nets.models import LeNet

from model_support import linear_classifier, random_set, seeded_generator, seeded_lenet


def _dist(perturbed: torch.Tensor, clean: torch.Tensor) -> float:
    """Eq. 2 over the whole set."""
    return distortion(total_absolute_change(perturbed, clean), len(clean), clean[0].numel())


# ------------------------------------------------------------------ Eq. 1 with a given sign


def test_perturb_unclipped_moves_each_nonzero_sign_pixel_by_exactly_eps():
    x, _ = random_set(6, low=0.3, high=0.7)
    sign = torch.randint(-1, 2, x.shape, generator=seeded_generator(1), dtype=torch.int8)
    assert (sign == 0).any() and (sign != 0).any()
    eps = 0.1
    out = FGSM.perturb(x, sign, eps)
    change = out - x
    torch.testing.assert_close(change, eps * sign.float(), atol=1e-6, rtol=0)
    assert torch.equal(out[sign == 0], x[sign == 0])
    fraction = (sign != 0).float().mean().item()
    assert _dist(out, x) == pytest.approx(eps * fraction, abs=1e-6)
    assert torch.equal(x, random_set(6, low=0.3, high=0.7)[0])  # input not modified in place


def test_perturb_all_nonzero_gives_distortion_eps():
    x, _ = random_set(4, low=0.3, high=0.7)
    sign = torch.where(torch.rand(x.shape, generator=seeded_generator(2)) < 0.5, -1, 1).to(torch.int8)
    assert _dist(FGSM.perturb(x, sign, 0.1), x) == pytest.approx(0.1, abs=1e-6)


def test_perturb_with_clipping_stays_in_unit_range():
    x, _ = random_set(6)
    sign = torch.randint(-1, 2, x.shape, generator=seeded_generator(4), dtype=torch.int8)
    eps = 0.3
    out = FGSM.perturb(x, sign, eps)
    assert out.min().item() >= 0.0 and out.max().item() <= 1.0
    assert (out == 0).any() and (out == 1).any()  # clipping did happen
    dist = _dist(out, x)
    fraction = (sign != 0).float().mean().item()
    assert dist < eps * fraction - 1e-3  # clipping strictly reduces it here
    assert (out - x).abs().max().item() <= eps + 1e-6
    torch.testing.assert_close(out, (x + eps * sign.float()).clamp(0, 1))


# ------------------------------------------------------------------ the attack


def test_sign_map_is_the_gradient_sign():
    model = seeded_lenet(1)
    x, y = random_set(5, seed=1)
    assert torch.equal(FGSM(batch_size=2).sign_map(model, x, y), gradient_sign(model, x, y))


def test_fgsm_raises_the_loss():
    model = linear_classifier(0)
    x, y = random_set(16, low=0.2, high=0.8)
    clean = F.nll_loss(model(x), y).item()
    adversarial = F.nll_loss(model(FGSM.perturb(x, gradient_sign(model, x, y), 0.05)), y).item()
    assert adversarial > clean + 0.1


def test_outcome_scores_eq1_examples_of_the_attacked_network_on_the_scored_one():
    scored, attacked = linear_classifier(1), linear_classifier(2)
    x, _ = random_set(10, seed=1, low=0.2, high=0.8)
    with torch.no_grad():
        y = scored(x).argmax(1)  # clean error 0 on the scored network
    eps = [0.01, 0.05, 0.2]
    white_box = FGSM(batch_size=3).outcome(scored, scored, x, y, eps)
    transferred = FGSM(batch_size=3).outcome(scored, attacked, x, y, eps)
    for outcome, source in ((white_box, scored), (transferred, attacked)):
        sign = gradient_sign(source, x, y)
        for k, e in enumerate(eps):
            examples = FGSM.perturb(x, sign, e)
            with torch.no_grad():
                assert torch.equal(outcome.fooled[k], scored(examples).argmax(1) != y), (k, e)
            torch.testing.assert_close(outcome.abs_change[k], absolute_change(examples, x))
    assert white_box.eps == eps
    assert 0 < white_box.error()[0] <= white_box.error()[-1] and white_box.error()[-1] > 0.5
    assert not torch.equal(white_box.fooled, transferred.fooled)  # the attacked network's gradient was used


# ------------------------------------------------------------------ Eq. 3


@pytest.mark.parametrize("eps, c", [(0.1, 0.5), (0.05, 2.0), (0.2, 0.0)])
def test_eq3_matches_hand_computation_on_linear_model(eps, c):
    model = linear_classifier(7, torch.float64)
    x, y = random_set(6, seed=7, dtype=torch.float64)
    weight = model[1].weight.detach()
    bias = model[1].bias.detach()
    onehot = F.one_hot(y, 10).double()

    def hand_grad(images):  # d/dX sum NLL(log_softmax(W X + b)) = W^T (softmax - onehot)
        probs = torch.softmax(images.flatten(1) @ weight.T + bias, dim=1)
        return ((probs - onehot) @ weight).reshape(images.shape)

    shifted = x + eps * hand_grad(x).sign()  # X + R, not clipped before the second gradient
    expected = (shifted + c * hand_grad(shifted)).clamp(0.0, 1.0)
    out = Eq3(eps, c).examples(model, x, y)
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=0)
    assert out.min().item() >= 0.0 and out.max().item() <= 1.0
    # The test exercises both clipped and unclipped pixels.
    assert ((out == 0) | (out == 1)).any() and ((out > 0) & (out < 1)).any()
    if c == 0:
        torch.testing.assert_close(out, FGSM.perturb(x, gradient_sign(model, x, y), eps), atol=1e-12, rtol=0)
    else:
        # The gradient step really contributes.
        assert not torch.allclose(out, (x + eps * hand_grad(x).sign()).clamp(0, 1))


def test_eq3_uses_the_deployed_network_and_restores_training_mode():
    model = LeNet({"input": 0.5, "full": 0.5})
    model.reset_parameters(0)
    model.train()
    x, y = random_set(4)
    first = Eq3(0.1, 0.5).examples(model, x, y)
    assert model.training
    assert torch.equal(first, Eq3(0.1, 0.5).examples(model, x, y))  # dropout was off
    torch.testing.assert_close(first, Eq3(0.1, 0.5).examples(seeded_lenet(0), x, y))
