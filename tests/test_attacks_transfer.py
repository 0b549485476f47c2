"""Tests for mnistrobust.attacks.transfer: stored examples of another method, scored on this one."""

from __future__ import annotations

import torch

from mnistrobust.attacks import Transfer
from mnistrobust.attacks.core import absolute_change

from model_support import labelled_by, seeded_generator, seeded_lenet


def test_transfer_scores_the_stored_examples_on_the_scored_network():
    model = seeded_lenet(3)
    x, y = labelled_by(model, 6, seed=3)
    eps = [0.1, 0.5]
    examples = torch.stack([(x + e * torch.randn(x.shape, generator=seeded_generator(k)).sign()).clamp(0, 1) for k, e in enumerate(eps)])
    outcome = Transfer("lenet", examples, batch_size=4).outcome(model, None, x, y, eps)
    for k in range(len(eps)):
        with torch.no_grad():
            assert torch.equal(outcome.fooled[k], model(examples[k]).argmax(1) != y)
        torch.testing.assert_close(outcome.abs_change[k], absolute_change(examples[k], x))
    assert outcome.error()[1] > outcome.error()[0]  # eps 0.5 noise fools more than eps 0.1
