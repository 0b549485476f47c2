"""Tests for mnistrobust.attacks.steps: the one L-inf step (random start, signed-gradient
step, projection onto the eps ball, clipping to [0, 1]) and the loop that repeats it."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from mnistrobust.attacks.core import input_gradient
from mnistrobust.attacks.steps import LinfStep, ascend

from model_support import linear_classifier, random_set, seeded_generator


def _radii(n: int) -> torch.Tensor:
    return torch.linspace(0.01, 0.3, n).view(-1, 1, 1, 1)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("per_row", [False, True])
def test_a_step_stays_in_the_eps_ball_and_in_the_unit_box_however_far_it_goes(seed, per_row):
    clean, _ = random_set(8, seed=seed)
    eps = _radii(8) if per_row else 0.1
    step = LinfStep(clean, eps, step_size=5.0)  # far beyond the ball and the box
    moved = step.step(step.random_start(seeded_generator(seed)), torch.randn(clean.shape, generator=seeded_generator(seed + 10)))
    assert ((moved - clean).abs() <= torch.as_tensor(eps) + 1e-6).all()
    assert moved.min() >= 0 and moved.max() <= 1
    # Far steps end on the ball's boundary (or the box's), not inside it.
    on_edge = ((moved - clean).abs() >= torch.as_tensor(eps) - 1e-6) | (moved == 0) | (moved == 1)
    assert on_edge.all()


def test_the_step_moves_each_pixel_by_the_step_size_along_the_gradient_sign():
    clean = torch.full((2, 1, 28, 28), 0.5)
    grad = torch.randn(clean.shape, generator=seeded_generator(0))
    grad[0, 0, 0, :4] = 0.0  # a pixel without gradient stays
    step = LinfStep(clean, 0.2, step_size=0.05)
    moved = step.step(clean, grad)
    torch.testing.assert_close(moved - clean, 0.05 * grad.sign())
    assert torch.equal(moved[0, 0, 0, :4], clean[0, 0, 0, :4])


def test_per_row_step_sizes_apply_row_by_row():
    clean = torch.full((3, 1, 28, 28), 0.5)
    sizes = torch.tensor([0.01, 0.02, 0.04]).view(-1, 1, 1, 1)
    grad = torch.ones_like(clean)
    moved = LinfStep(clean, 0.3, sizes).step(clean, grad)
    torch.testing.assert_close((moved - clean).flatten(1).amax(1), sizes.flatten())


def test_random_start_is_seeded_and_uniform_over_the_start_ball():
    clean, _ = random_set(16, low=0.3, high=0.7)
    step = LinfStep(clean, 0.1, 0.01)
    first = step.random_start(seeded_generator(3))
    assert torch.equal(first, step.random_start(seeded_generator(3)))
    assert not torch.equal(first, step.random_start(seeded_generator(4)))
    change = first - clean
    assert change.abs().max() <= 0.1 + 1e-6
    assert change.mean().abs() < 0.005 and 0.04 < change.abs().mean() < 0.06  # uniform on [-0.1, 0.1]: |.| averages 0.05
    wider = LinfStep(clean, 0.1, 0.01, start_radius=0.2).random_start(seeded_generator(3))
    assert (wider - clean).abs().max() > 0.15


def test_without_the_ball_a_step_only_clips_to_the_unit_box():
    clean, _ = random_set(8, low=0.2, high=0.8)
    step = LinfStep(clean, 0.1, step_size=0.3, start_radius=0.2, in_ball=False)
    moved = step.step(step.random_start(seeded_generator(0)), torch.randn(clean.shape, generator=seeded_generator(1)))
    assert (moved - clean).abs().max() > 0.3  # left the eps ball
    assert moved.min() >= 0 and moved.max() <= 1


def test_a_subset_of_rows_steps_as_those_rows_of_the_whole():
    clean, _ = random_set(6)
    radii = _radii(6)
    step = LinfStep(clean, radii, 2.5 * radii / 10)
    x = step.random_start(seeded_generator(0))
    grad = torch.randn(clean.shape, generator=seeded_generator(1))
    keep = torch.tensor([True, False, True, True, False, True])
    assert torch.equal(step[keep].step(x[keep], grad[keep]), step.step(x, grad)[keep])
    assert torch.equal(LinfStep(clean, 0.1, 0.02)[keep].step(x[keep], grad[keep]), LinfStep(clean, 0.1, 0.02).step(x, grad)[keep])


def test_ascend_never_lowers_a_convex_loss_and_each_step_is_one_step():
    # A linear classifier's NLL is convex in the input, and a projected signed-gradient step
    # moves every pixel along the sign or not at all, so the loss cannot fall.
    model = linear_classifier(0)
    x, y = random_set(16)
    step = LinfStep(x, 0.05, 0.01)
    losses, current = [], x
    for _ in range(6):
        losses.append(F.nll_loss(model(current), y, reduction="sum").item())
        current = ascend(model, step, current, y, 1)
    assert all(b >= a for a, b in zip(losses, losses[1:])) and losses[-1] > losses[0]
    two = ascend(model, step, x, y, 2)
    one = step.step(x, input_gradient(model, x, y)[0])
    assert torch.equal(two, step.step(one, input_gradient(model, one, y)[0]))
    assert torch.equal(ascend(model, step, x, y, 0), x)
