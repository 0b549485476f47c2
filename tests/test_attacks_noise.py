"""Tests for mnistrobust.attacks.noise: the paper's Gaussian noise, seeded and clipped."""

from __future__ import annotations

import pytest
import torch

from mnistrobust.attacks import GaussianNoise

from model_support import random_set, seeded_generator


def test_gaussian_noise_is_reproducible_and_clipped():
    x, _ = random_set(4)
    a = GaussianNoise.perturb(x, 0.3, seeded_generator(5))
    b = GaussianNoise.perturb(x, 0.3, seeded_generator(5))
    c = GaussianNoise.perturb(x, 0.3, seeded_generator(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert a.min().item() >= 0.0 and a.max().item() <= 1.0
    assert (a == 0).any() and (a == 1).any()
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(x, random_set(4)[0])  # input not modified in place


def test_gaussian_noise_has_requested_sigma_when_unclipped():
    x = torch.full((16, 1, 28, 28), 0.5)
    noisy = GaussianNoise.perturb(x, 0.02, seeded_generator(0))
    assert (noisy - x).std().item() == pytest.approx(0.02, rel=0.03)
    assert torch.equal(GaussianNoise.perturb(x, 0.0, seeded_generator(0)), x)


def test_gaussian_noise_in_float64_keeps_the_dtype():
    x, _ = random_set(2, dtype=torch.float64)
    assert GaussianNoise.perturb(x, 0.1, seeded_generator(0)).dtype == torch.float64
