"""Tests for mnistrobust.attacks.rows: the (image, eps) row scheduler PGD and Square run on."""

from __future__ import annotations

import pytest
import torch

from mnistrobust.attacks.core import absolute_change
from mnistrobust.attacks.rows import RowScheduler
from mnistrobust.errors import ConfigError

from model_support import random_set, seeded_lenet

EPS = [0.1, 0.2, 0.3]


def _scheduler(n: int = 4, pending=None) -> RowScheduler:
    images, labels = random_set(n)
    return RowScheduler(seeded_lenet(0), images, labels, EPS, pending, seed=3)


def test_rows_are_image_major_and_only_those_pending_marks():
    rows = _scheduler()
    assert rows.rows[0].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert rows.rows[1].tolist() == [0, 1, 2] * 4
    pending = torch.zeros(3, 4, dtype=torch.bool)
    pending[2, 1] = pending[0, 3] = True
    only = _scheduler(pending=pending)
    assert list(zip(only.rows[0].tolist(), only.rows[1].tolist())) == [(1, 2), (3, 0)]


def test_chunks_carry_each_rows_image_label_and_radius():
    rows = _scheduler()
    chunks = list(rows.chunks(rows.rows, 5))
    assert [(c.start, c.end, len(c)) for c in chunks] == [(0, 5, 5), (5, 10, 5), (10, 12, 2)]
    chunk = chunks[1]
    assert torch.equal(chunk.clean, rows.images[chunk.image]) and torch.equal(chunk.truth, rows.labels[chunk.image])
    assert chunk.radius.shape == (5, 1, 1, 1)
    torch.testing.assert_close(chunk.radius.flatten(), torch.tensor(EPS)[chunk.level])


def test_a_success_counts_at_every_larger_eps_and_settles_those_rows():
    rows = _scheduler()
    chunk = next(rows.chunks(rows.rows, 12))
    examples = (chunk.clean + 0.05).clamp(0, 1)
    success = (chunk.image == 1) & (chunk.level == 1)  # image 1 fooled at eps 0.2
    keep = rows.record(chunk, examples, success)
    assert rows.fooled[:, 1].tolist() == [False, True, True] and rows.fooled.sum() == 2
    assert keep.tolist() == [not (image == 1 and level >= 1) for image, level in zip(chunk.image.tolist(), chunk.level.tolist())]
    change = absolute_change(examples[success], chunk.clean[success]).item()
    assert rows.abs_change[1, 1].item() == rows.abs_change[2, 1].item() == pytest.approx(change)
    # Settled rows leave the next pass and every later chunk.
    assert len(rows.unsettled_rows()[0]) == 10
    assert sum(len(c) for c in rows.chunks(rows.rows, 5)) == 10


def test_finish_records_the_last_examples_change_also_where_they_failed():
    rows = _scheduler(2)
    chunk = next(rows.chunks(rows.rows, 6))
    examples = (chunk.clean + 0.01).clamp(0, 1)
    rows.finish(chunk, examples, torch.zeros(len(chunk), dtype=torch.bool))
    outcome = rows.outcome()
    assert not outcome.fooled.any() and (outcome.abs_change > 0).all() and outcome.eps == EPS


def test_the_eps_are_checked():
    images, labels = random_set(2)
    with pytest.raises(ConfigError):
        RowScheduler(seeded_lenet(0), images, labels, [0.0, 0.1])
