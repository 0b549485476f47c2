"""Tests for mnistrobust.attacks.pgd: L-inf PGD with random start and restarts (batched over
(image, eps) rows with early exit), its examples for training and transfer, the oblivious
threat model, and EOT-PGD for randomized defenses."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from mnistrobust.attacks import FGSM, PGD
from mnistrobust.attacks.core import fixed_examples_outcome
from mnistrobust.config import PGDSettings
from mnistrobust.errors import ConfigError
from mnistrobust.nets.defenses import LowPassFilter
from mnistrobust.nets.models import LeNet, Stacked

from model_support import labelled_by, random_set, zero_bias_linear_classifier


def _naive_pgd_fooled(model, x, y, eps, steps, step):
    """Textbook PGD from the clean image, one eps at a time; fooled if any iterate is misclassified."""
    current, fooled = x.clone(), torch.zeros(len(x), dtype=torch.bool)
    for _ in range(steps):
        current.requires_grad_(True)
        log_probs = model(current)
        fooled |= log_probs.argmax(1) != y
        (grad,) = torch.autograd.grad(F.nll_loss(log_probs, y, reduction="sum"), current)
        current = torch.min(torch.max(current.detach() + step * grad.sign(), x - eps), x + eps).clamp(0, 1)
    with torch.no_grad():
        return fooled | (model(current).argmax(1) != y)


def test_batched_pgd_with_early_exit_matches_textbook_pgd_per_eps():
    model = zero_bias_linear_classifier(1)
    x, y = labelled_by(model, seed=1)
    settings = PGDSettings(steps=8, restarts=1, random_start=False)
    eps = [0.001, 0.003, 0.01]
    outcome = PGD(settings, batch_size=7).white_box_outcome(model, x, y, eps)  # chunks split images' eps rows
    expected = torch.stack([_naive_pgd_fooled(model, x, y, e, 8, 2.5 * e / 8) for e in eps])
    # A success at a smaller eps counts at larger ones (the example lies in the larger ball).
    assert torch.equal(outcome.fooled, expected.cummax(0).values)
    errors = outcome.error()
    assert errors == sorted(errors) and 0 < errors[0] < errors[-1] < 1
    assert all(0 < d for d in outcome.dist(784))


def test_white_box_outcome_is_what_outcome_runs_when_the_attacked_network_is_the_scored_one():
    model = zero_bias_linear_classifier(1)
    x, y = labelled_by(model, seed=1)
    attack = PGD(PGDSettings(steps=5, restarts=2), seed=4, batch_size=10)
    first = attack.outcome(model, model, x, y, [0.002, 0.005])
    second = attack.white_box_outcome(model, x, y, [0.002, 0.005])
    assert torch.equal(first.fooled, second.fooled) and torch.equal(first.abs_change, second.abs_change)


def test_restarts_and_random_start_never_lose_successes():
    model = zero_bias_linear_classifier(1)
    x, y = labelled_by(model, seed=1)
    one = PGD(PGDSettings(steps=5, restarts=1), seed=3).white_box_outcome(model, x, y, [0.002, 0.005])
    three = PGD(PGDSettings(steps=5, restarts=3), seed=3).white_box_outcome(model, x, y, [0.002, 0.005])
    assert torch.all(three.fooled >= one.fooled)  # restart 1 is the same draw, later ones only add
    assert three.fooled.sum() >= one.fooled.sum()


def test_pgd_examples_stay_in_the_ball_and_the_unit_box():
    model, (x, y) = LeNet(), random_set(8)
    model.reset_parameters(0)
    examples = PGD(PGDSettings(steps=4, restarts=1)).examples(model.eval(), x, y, 0.1, torch.Generator().manual_seed(0))
    assert (examples - x).abs().max() <= 0.1 + 1e-6
    assert examples.min() >= 0 and examples.max() <= 1
    assert (examples != x).float().mean() > 0.5  # it moved
    # PGD raises the loss above the clean loss.
    with torch.no_grad():
        assert F.nll_loss(model(examples), y) > F.nll_loss(model(x), y)


def test_pgd_examples_restore_training_mode_and_repeat_from_the_generator():
    model = LeNet({"full": 0.5})
    model.reset_parameters(0)
    model.train()
    x, y = random_set(4)
    attack = PGD(PGDSettings(steps=3, restarts=1))
    first = attack.examples(model, x, y, 0.1, torch.Generator().manual_seed(1))
    assert model.training
    assert torch.equal(first, attack.examples(model, x, y, 0.1, torch.Generator().manual_seed(1)))
    assert not torch.equal(first, attack.examples(model, x, y, 0.1, torch.Generator().manual_seed(2)))


def test_example_sets_are_full_length_examples_at_every_eps():
    model = zero_bias_linear_classifier(3)
    x, y = labelled_by(model, n=10, seed=3)
    eps = [0.01, 0.05]
    attack = PGD(PGDSettings(steps=4, restarts=1), seed=2, batch_size=4)
    sets = attack.example_sets(model, x, y, eps)
    assert sets.shape == (2, 10, 1, 28, 28)
    for k, e in enumerate(eps):
        assert (sets[k] - x).abs().max() <= e + 1e-6
        assert sets[k].min() >= 0 and sets[k].max() <= 1
    # Seeded: the same sets again.
    assert torch.equal(sets, PGD(PGDSettings(steps=4, restarts=1), seed=2, batch_size=4).example_sets(model, x, y, eps))


def test_oblivious_outcome_scores_the_attacked_networks_examples_on_the_method():
    classifier = zero_bias_linear_classifier(5)
    method = nn.Sequential(LowPassFilter(3, 1.3), classifier).eval()
    x, y = labelled_by(method, n=12, seed=5)
    eps = [0.02, 0.1]
    attack = PGD(PGDSettings(steps=4, restarts=2), seed=1, batch_size=5)
    outcome = attack.outcome(method, classifier, x, y, eps)
    expected = fixed_examples_outcome(method, x, y, attack.example_sets(classifier, x, y, eps), eps, 5)
    assert torch.equal(outcome.fooled, expected.fooled)
    torch.testing.assert_close(outcome.abs_change, expected.abs_change)


def test_pgd_is_at_least_as_strong_as_fgsm_on_a_linear_model():
    model = zero_bias_linear_classifier(2)
    x, y = labelled_by(model, seed=2)
    eps = [0.001, 0.003, 0.01]
    fgsm = FGSM().outcome(model, model, x, y, eps)
    pgd = PGD(PGDSettings(steps=10, restarts=1, random_start=False)).white_box_outcome(model, x, y, eps)
    assert all(p >= f for p, f in zip(pgd.error(), fgsm.error()))
    assert 0 < fgsm.error()[0] < fgsm.error()[-1] < 1


class _BatchSizes(nn.Module):
    """Wraps a model and records the size of every batch it sees."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model, self.sizes = model, []

    def forward(self, x):
        self.sizes.append(len(x))
        return self.model(x)


def test_eot_pgd_keeps_forward_batches_within_batch_size_images():
    noisy = Stacked(LowPassFilter(3, 1.3, noise_sigma=0.3, seed=0), LeNet())
    noisy.classifier.reset_parameters(0)
    recorder = _BatchSizes(noisy).eval()
    x, y = random_set(8)
    # 8 images x 3 eps = 24 rows; with 4 EOT copies each, a 12-image batch holds 3 rows.
    PGD(PGDSettings(steps=2, restarts=1), batch_size=12, eot_samples=4).white_box_outcome(recorder, x, y, [0.1, 0.2, 0.3])
    assert max(recorder.sizes) == 12 and recorder.sizes.count(12) >= 2 * 8


def test_bad_eps_is_refused():
    with pytest.raises(ConfigError, match="eps must lie in"):
        PGD(PGDSettings(steps=1, restarts=1)).white_box_outcome(zero_bias_linear_classifier(), *random_set(2), [-0.1])
