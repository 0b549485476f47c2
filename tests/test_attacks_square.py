"""Tests for mnistrobust.attacks.square: the gradient-free Square attack. (Its patch schedule:
test_config.py; seeing through masked gradients: test_evaluation_strong.py.)"""

from __future__ import annotations

import torch

from mnistrobust.attacks import Square
from mnistrobust.config import SquareSettings

from model_support import labelled_by, seeded_lenet


def test_square_stays_in_the_ball_is_seeded_and_gains_with_queries():
    model = seeded_lenet(0)
    x, y = labelled_by(model, n=16, seed=5)
    eps = [0.05, 0.1, 0.3]
    few = Square(SquareSettings(queries=5), seed=1, batch_size=20).outcome(model, model, x, y, eps)
    many = Square(SquareSettings(queries=60), seed=1, batch_size=20).outcome(model, model, x, y, eps)
    again = Square(SquareSettings(queries=60), seed=1, batch_size=20).outcome(model, model, x, y, eps)
    assert torch.equal(many.fooled, again.fooled) and torch.equal(many.abs_change, again.abs_change)
    # Every example lies in its eps ball: its mean absolute change is at most eps per pixel.
    assert all(0 < d <= e + 1e-9 for d, e in zip(many.dist(784), eps))
    assert torch.equal(many.fooled, many.fooled.cummax(0).values)  # success carries to larger eps
    assert sum(many.error()) > sum(few.error()) and many.error()[-1] > 0.5


def test_square_queries_the_scored_network_only():
    model = seeded_lenet(0)
    x, y = labelled_by(model, n=8, seed=6)

    class Untouchable(torch.nn.Module):
        def forward(self, x):
            raise AssertionError("Square is black-box: it must not query the attacked network")

    outcome = Square(SquareSettings(queries=10), seed=2, batch_size=24).outcome(model, Untouchable(), x, y, [0.1, 0.3])
    reference = Square(SquareSettings(queries=10), seed=2, batch_size=24).outcome(model, model, x, y, [0.1, 0.3])
    assert torch.equal(outcome.fooled, reference.fooled)
