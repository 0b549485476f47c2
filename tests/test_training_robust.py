"""Tests for mnistrobust.training.robust: the PGD perturbation that PGD adversarial training
(the strong-attack table's reference row) puts in place of every batch."""

from __future__ import annotations

import pytest
import torch

from mnistrobust.errors import ConfigError
from mnistrobust.training.robust import pgd_perturbation

from model_support import random_set, seeded_lenet

REFERENCE = {"eps": 0.3, "steps": 3, "step_size": 0.01, "seed": 1}


def test_pgd_perturbation_gives_examples_in_the_ball_from_its_own_seed():
    model = seeded_lenet(0)
    x, y = random_set(8)
    first = pgd_perturbation(REFERENCE, seed=1)(model, x, y)
    assert (first - x).abs().max() <= 0.3 + 1e-6 and first.min() >= 0 and first.max() <= 1
    # Random start plus 3 steps of 0.01: each pixel moved, by at most the ball's radius.
    assert (first != x).float().mean() > 0.9
    assert torch.equal(first, pgd_perturbation(REFERENCE, seed=1)(model, x, y))
    assert not torch.equal(first, pgd_perturbation(REFERENCE, seed=2)(model, x, y))
    # One generator for the whole training: the next batch draws a new start.
    perturb = pgd_perturbation(REFERENCE, seed=1)
    assert not torch.equal(perturb(model, x, y), perturb(model, x, y))


def test_pgd_perturbation_refuses_a_non_positive_eps():
    with pytest.raises(ConfigError, match="reference eps must be positive"):
        pgd_perturbation({**REFERENCE, "eps": 0.0}, seed=1)
