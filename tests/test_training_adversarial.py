"""Tests for mnistrobust.training.adversarial: the Eq. 3 pool of a stage and the stage
bookkeeping (AdversarialSettings). (Pools on disk: test_io_hdf5.py; the pool and stage jobs:
test_jobs_training.py.)"""

from __future__ import annotations

import torch

from mnistrobust.attacks import Eq3
from mnistrobust.training.adversarial import AdversarialSettings, generate_pool

from model_support import seeded_lenet

SETTINGS = {"base_model": "lenet", "stages": 2, "iterations_per_stage": 5, "eps": 0.2, "c": 0.5, "batch_size": 7}


def test_pool_is_eq3_of_every_image_whatever_the_batch_size():
    model = seeded_lenet()
    x = torch.rand(10, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    y = torch.arange(10)
    pool = generate_pool(model, x, y, eps=0.2, c=0.5, batch_size=3)
    torch.testing.assert_close(pool, Eq3(0.2, 0.5).examples(model, x, y))
    assert pool.shape == x.shape and pool.min() >= 0 and pool.max() <= 1
    torch.testing.assert_close(generate_pool(model, x, y, eps=0.2, c=0.5, batch_size=1000), pool)


def test_stage_bookkeeping():
    spec = AdversarialSettings(**SETTINGS)
    assert spec.pool_attrs(1) == {"stage": 1, "eps": 0.2, "c": 0.5, "gradient_batch": 1, "source_model": "lenet"}
    assert spec.pool_attrs(2)["source_model"] == "adv_stage1"
    assert spec.start_iteration(100, 1) == 100 and spec.start_iteration(100, 2) == 105
    assert spec.stage_seed(1, 2) == 1002 and spec.stage_seed(1, 1) != spec.stage_seed(2, 1)


def test_a_batch_averaged_gradient_divides_eq3s_second_term():
    """gradient_batch B: pycaffe's data gradient of a batch-averaged loss, the per-image
    gradient / B. The pool moves from the sign step by c / B times the gradient; for large
    B it is the sign step alone."""
    model = seeded_lenet()
    x = torch.rand(12, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    y = torch.arange(12) % 10
    per_image = generate_pool(model, x, y, eps=0.2, c=0.5, batch_size=5)
    averaged = generate_pool(model, x, y, eps=0.2, c=0.5, batch_size=5, gradient_batch=64)
    torch.testing.assert_close(averaged, Eq3(0.2, 0.5 / 64).examples(model, x, y))
    sign_step = Eq3(0.2, 0.0).examples(model, x, y)
    assert (averaged - sign_step).abs().mean() < (per_image - sign_step).abs().mean() / 20
    assert not torch.equal(averaged, sign_step)
    assert AdversarialSettings(**SETTINGS, gradient_batch=64).pool_attrs(1)["gradient_batch"] == 64
    assert AdversarialSettings(**SETTINGS).pool_attrs(1)["gradient_batch"] == 1
