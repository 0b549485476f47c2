"""Tests for mnistrobust.evaluation.sweeps: noise strengths, the error-versus-distortion
sweeps, clean errors and the low-pass filters' clean errors. (Reading curves:
test_reports_curves.py; the sweep job: test_jobs_evaluation.py.)"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from mnistrobust.attacks.core import gradient_sign
from mnistrobust.errors import ConfigError
from mnistrobust.data import load_split
from mnistrobust.evaluation.sweeps import (
    bisect_strength,
    clean_error,
    errors_at_dists,
    lowpass_clean_errors,
    noise_generator,
    noise_strengths,
    sweep,
)
from mnistrobust.nets.defenses import LowPassFilter
from mnistrobust.nets.models import Stacked
from mnistrobust.io.curves import CELL_COLUMNS, CURVE_COLUMNS

from model_support import LOWPASS_SECTION, random_set, seeded_lenet


def _quiet(_message: str) -> None:
    pass


# ------------------------------------------------------------------ strengths


def test_noise_strengths_endpoints_and_count():
    strengths = noise_strengths(0.5, 11)
    assert len(strengths) == 11
    assert strengths[0] == 0.0
    assert strengths[-1] == pytest.approx(0.5)
    np.testing.assert_allclose(np.diff(strengths), 0.05)
    assert list(noise_strengths(1.0, 2)) == [0.0, 1.0]


@pytest.mark.parametrize("max_strength, levels", [(0.5, 1), (0.5, 0), (0.0, 10), (-0.1, 10)])
def test_noise_strengths_bad_arguments_raise(max_strength, levels):
    with pytest.raises(ConfigError):
        noise_strengths(max_strength, levels)


# ------------------------------------------------------------------ sweeps


def test_sweep_level_zero_is_clean_for_both_noises():
    images, labels = random_set(64)
    model = seeded_lenet(0)
    sign = gradient_sign(model, images, labels)
    clean = clean_error(seeded_lenet(0), images, labels)
    assert 0.0 < clean < 1.0
    for noise, extra in (("gaussian", {}), ("fgsm", {"sign": sign})):
        curve = sweep(model, images, labels, noise, [0.0, 0.1, 0.3], batch_size=24, log=_quiet, **extra)
        assert list(curve.columns) == CURVE_COLUMNS
        assert list(curve["level"]) == [0, 1, 2]
        assert list(curve["strength"]) == pytest.approx([0.0, 0.1, 0.3])
        assert curve["dist"].iloc[0] == 0.0
        assert curve["error"].iloc[0] == clean
        assert curve["dist"].iloc[1] > 0.0


def test_sweep_error_matches_direct_computation():
    images, labels = random_set(32, seed=2)
    model = seeded_lenet(2)
    sign = gradient_sign(model, images, labels)
    curve = sweep(model, images, labels, "fgsm", [0.0, 0.25], sign=sign, batch_size=10, log=_quiet)
    perturbed = (images + 0.25 * sign.float()).clamp(0, 1)
    with torch.no_grad():
        expected_error = (seeded_lenet(2)(perturbed).argmax(1) != labels).float().mean().item()
    assert curve["error"].iloc[1] == pytest.approx(expected_error)
    assert curve["dist"].iloc[1] == pytest.approx((perturbed - images).abs().mean().item(), abs=1e-6)


def test_fgsm_sweep_dist_non_decreasing_and_unclipped_dist():
    images, labels = random_set(64, seed=1, low=0.3, high=0.7)
    model = seeded_lenet(1)
    sign = gradient_sign(model, images, labels)
    fraction = (sign != 0).double().mean().item()
    assert fraction > 0.5
    strengths = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8]
    curve = sweep(model, images, labels, "fgsm", strengths, sign=sign, batch_size=20, log=_quiet)
    dists = curve["dist"].to_numpy()
    assert np.all(np.diff(dists) >= 0)
    for level, strength in enumerate(strengths[:4]):  # images in [0.3, 0.7]: no clipping up to 0.3
        assert dists[level] == pytest.approx(strength * fraction, abs=1e-6)
    # Clipping makes large strengths distort less than strength * fraction.
    assert dists[-1] < 0.8 * fraction - 0.05


def test_gaussian_sweep_dist_grows_with_strength():
    images, labels = random_set(32, seed=4)
    curve = sweep(seeded_lenet(4), images, labels, "gaussian", [0.0, 0.1, 0.3, 0.6], log=_quiet)
    assert np.all(np.diff(curve["dist"].to_numpy()) > 0)


def test_sweep_is_deterministic():
    images, labels = random_set(64, seed=3)
    model = seeded_lenet(3)
    sign = gradient_sign(model, images, labels)
    for noise, extra in (("gaussian", {}), ("fgsm", {"sign": sign})):
        first = sweep(model, images, labels, noise, [0.0, 0.2, 0.4], seed=5, log=_quiet, **extra)
        second = sweep(model, images, labels, noise, [0.0, 0.2, 0.4], seed=5, log=_quiet, **extra)
        pd.testing.assert_frame_equal(first, second, check_exact=True)


def test_gaussian_level_independent_of_other_levels():
    # One generator per level index: the row of a level with the same index and strength
    # does not depend on which further levels are evaluated.
    images, labels = random_set(64, seed=6)
    model = seeded_lenet(6)
    three = sweep(model, images, labels, "gaussian", [0.0, 0.2, 0.4], seed=1, log=_quiet)
    two = sweep(model, images, labels, "gaussian", [0.0, 0.2], seed=1, log=_quiet)
    pd.testing.assert_frame_equal(three.iloc[:2], two, check_exact=True)


def test_gaussian_sweep_seed_changes_noise():
    images, labels = random_set(64, seed=6)
    model = seeded_lenet(6)
    a = sweep(model, images, labels, "gaussian", [0.0, 0.2], seed=1, log=_quiet)
    b = sweep(model, images, labels, "gaussian", [0.0, 0.2], seed=2, log=_quiet)
    assert a["dist"].iloc[1] != b["dist"].iloc[1]


def test_fgsm_sweep_without_or_with_wrong_sign_map_raises():
    images, labels = random_set(8)
    model = seeded_lenet(0)
    with pytest.raises(ConfigError, match="sign map"):
        sweep(model, images, labels, "fgsm", [0.0, 0.1], log=_quiet)
    wrong = torch.zeros(4, 1, 28, 28, dtype=torch.int8)
    with pytest.raises(ConfigError, match="sign map"):
        sweep(model, images, labels, "fgsm", [0.0, 0.1], sign=wrong, log=_quiet)


def test_sweep_unknown_noise_raises():
    images, labels = random_set(8)
    with pytest.raises(ConfigError, match="unknown noise"):
        sweep(seeded_lenet(0), images, labels, "blur", [0.0, 0.1], log=_quiet)


def test_sweep_of_a_random_defense_repeats_exactly():
    """The low-pass filter's injected noise comes from its own seeded generator: a freshly
    built method gives the same curve bit for bit."""

    def method():
        classifier = seeded_lenet(1)
        return Stacked(LowPassFilter(3, 7.0, noise_sigma=0.1, seed=0), classifier)

    images = torch.rand(40, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(40) % 10
    curves = [sweep(method(), images, labels, "gaussian", [0.0, 0.3], batch_size=16, log=_quiet) for _ in range(2)]
    assert curves[0].equals(curves[1])
    assert not math.isnan(curves[0]["error"].sum())


def test_clean_error_counts_misclassified_images_in_batches():
    images, labels = random_set(30, seed=8)
    model = seeded_lenet(8)
    with torch.no_grad():
        wrong = (model(images).argmax(1) != labels).sum().item()
    assert clean_error(model, images, labels, batch_size=7) == pytest.approx(wrong / 30)


def test_lowpass_clean_errors_cover_every_filter_and_sigma():
    images, labels = random_set(20, seed=9)
    classifier = seeded_lenet(9)
    lowpass = LOWPASS_SECTION
    lines: list[str] = []
    table = lowpass_clean_errors(classifier, images, labels, lowpass, [0.0, 0.1], log=lines.append)
    assert list(table.columns) == ["filter", "size", "variance", "noise_sigma", "clean_error_pct", "configured"]
    assert list(zip(table["filter"], table["noise_sigma"])) == [("lowpass3", 0.0), ("lowpass3", 0.1), ("lowpass5", 0.0), ("lowpass5", 0.1)]
    assert table["configured"].tolist() == [False, True, False, True]
    assert len(lines) == 4
    # Without noise the filter is deterministic: the error is that of the classifier behind it.
    expected = clean_error(Stacked(LowPassFilter(5, 1.3), seeded_lenet(9)), images, labels)
    assert table.loc[(table["filter"] == "lowpass5") & (table["noise_sigma"] == 0.0), "clean_error_pct"].item() == pytest.approx(100 * expected)


# ------------------------------------------------------------------ Table 2 cells by bisection on dist


@pytest.fixture(scope="module")
def mnist_test_set(mnist_h5_file):
    """500 real MNIST test digits (mostly black: clipping matters) with a LeNet's sign map."""
    images, labels = load_split(mnist_h5_file, "test", limit=500)
    return images, labels, gradient_sign(seeded_lenet(0), images, labels)


@pytest.mark.parametrize("noise", ["gaussian", "fgsm"])
def test_bisected_strength_moves_the_images_by_the_target_dist(mnist_test_set, noise):
    images, labels, sign = mnist_test_set
    model = seeded_lenet(0)
    cells = errors_at_dists(model, images, labels, noise, [0.0, 0.1, 0.2], sign=sign, seed=3, batch_size=128, log=_quiet)
    assert list(cells.columns) == CELL_COLUMNS
    assert list(cells["target_dist"]) == [0.0, 0.1, 0.2]
    assert cells["strength"].iloc[0] == 0.0
    np.testing.assert_allclose(cells["dist"], cells["target_dist"], atol=1e-4)
    assert cells["strength"].is_monotonic_increasing
    # The cell's error is what the sweep code measures at that strength, with the same noise.
    for row in cells.itertuples():
        at_strength = sweep(model, images, labels, noise, [row.strength], sign, seed=3, batch_size=128, log=_quiet)
        assert at_strength["error"].iloc[0] == row.error
        assert at_strength["dist"].iloc[0] == pytest.approx(row.dist, abs=1e-9)


@pytest.mark.parametrize("noise", ["gaussian", "fgsm"])
def test_found_strength_gives_the_target_dist_exactly_in_double_precision(mnist_test_set, noise):
    images, _, sign = mnist_test_set
    direction = sign.double() if noise == "fgsm" else None
    if noise == "gaussian":  # the noise sweep and bisect_strengths draw at level 0 (seed 3)
        generator = noise_generator(3, 0)
        direction = torch.cat([torch.randn(images[s : s + 128].shape, generator=generator) for s in range(0, len(images), 128)]).double()
    for target in (0.05, 0.1, 0.2, 0.3):
        strength = bisect_strength(images, noise, target, sign, seed=3, batch_size=128)
        moved = (images.double() + strength * direction).clamp(0, 1)
        assert float((moved - images.double()).abs().mean()) == pytest.approx(target, abs=1e-9), target


def test_bisection_agrees_with_the_curve_within_its_interpolation(mnist_test_set):
    images, labels, sign = mnist_test_set
    curve = sweep(seeded_lenet(0), images, labels, "fgsm", noise_strengths(0.6, 61), sign, log=_quiet)
    strength = bisect_strength(images, "fgsm", 0.1, sign)
    assert strength == pytest.approx(np.interp(0.1, curve["dist"], curve["strength"]), abs=0.01)


def test_bisection_of_an_unreachable_dist_or_without_sign_map_raises(mnist_test_set):
    images, _, sign = mnist_test_set
    with pytest.raises(ConfigError, match="cannot move these images by dist 0.9"):
        bisect_strength(images, "fgsm", 0.9, sign)
    with pytest.raises(ConfigError, match="sign map"):
        bisect_strength(images, "fgsm", 0.1)
