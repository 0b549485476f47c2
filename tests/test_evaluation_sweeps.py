"""Tests for mnistrobust.evaluation (noise strengths, sweeps) and mnistrobust.curves (reading
curves, interpolating them)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from mnistrobust.attacks import gradient_sign
from mnistrobust.errors import ConfigError, DataError
from mnistrobust.curves import CURVE_COLUMNS, error_at_dist, read_curve, strength_at_dist
from mnistrobust.evaluation import clean_error, noise_strengths, sweep
from mnistrobust.naming import check_noise

from model_support import random_set, seeded_lenet


def _quiet(_message: str) -> None:
    pass


def _curve(dist, error, strength=None) -> pd.DataFrame:
    strength = dist if strength is None else strength
    return pd.DataFrame(
        {"level": np.arange(len(dist)), "strength": strength, "dist": dist, "error": error}, columns=CURVE_COLUMNS
    )


# ------------------------------------------------------------------ strengths, noise names


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


def test_check_noise():
    assert check_noise("gaussian") == "gaussian"
    assert check_noise("fgsm") == "fgsm"
    with pytest.raises(ConfigError, match="salt"):
        check_noise("salt")


# ------------------------------------------------------------------ reading a curve


def test_error_at_dist_interpolates_linearly():
    curve = _curve([0.0, 0.1, 0.3], [0.0, 0.5, 1.0])
    values = error_at_dist(curve, [0.0, 0.05, 0.1, 0.2, 0.3])
    assert values == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])


def test_error_at_dist_sorts_by_dist():
    curve = _curve([0.3, 0.0, 0.1], [1.0, 0.0, 0.5])
    assert error_at_dist(curve, [0.2]) == pytest.approx([0.75])


def test_error_at_dist_nan_beyond_measured_range():
    curve = _curve([0.0, 0.1, 0.3], [0.0, 0.5, 1.0])
    below, inside, above = error_at_dist(curve, [-0.01, 0.25, 0.31])
    assert math.isnan(below)
    assert inside == pytest.approx(0.875)
    assert math.isnan(above)


def test_strength_at_dist():
    curve = _curve([0.0, 0.05, 0.15], [0.0, 0.1, 0.2], strength=[0.0, 0.1, 0.2])
    assert strength_at_dist(curve, 0.1) == pytest.approx(0.15)
    assert strength_at_dist(curve, 0.05) == pytest.approx(0.1)
    assert strength_at_dist(curve, 0.0) == 0.0
    with pytest.raises(ConfigError, match="beyond"):
        strength_at_dist(curve, 0.2)


def test_read_curve_round_trip(tmp_path):
    path = tmp_path / "curve.csv"
    curve = _curve([0.0, 0.1], [0.01, 0.5])
    curve.to_csv(path, index=False)
    pd.testing.assert_frame_equal(read_curve(str(path)), curve, check_dtype=False)


def test_read_curve_missing_column_names_file(tmp_path):
    path = tmp_path / "bad_curve.csv"
    _curve([0.0, 0.1], [0.01, 0.5]).drop(columns="error").to_csv(path, index=False)
    with pytest.raises(DataError) as info:
        read_curve(str(path))
    assert str(path) in str(info.value)
    assert "error" in str(info.value)


def test_read_curve_missing_or_empty_file_raises_data_error(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(DataError) as info:
        read_curve(str(missing))
    assert str(missing) in str(info.value)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError) as info:
        read_curve(str(empty))
    assert str(empty) in str(info.value)


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
