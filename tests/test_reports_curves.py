"""Tests for mnistrobust.reports.curves: reading the sweeps' curve CSVs and reading values
off them by linear interpolation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mnistrobust.errors import ConfigError, DataError
from mnistrobust.io.curves import CURVE_COLUMNS, read_curve
from mnistrobust.reports.curves import error_at_dist, mean_curve, strength_at_dist


def _curve(dist, error, strength=None) -> pd.DataFrame:
    strength = dist if strength is None else strength
    return pd.DataFrame(
        {"level": np.arange(len(dist)), "strength": strength, "dist": dist, "error": error}, columns=CURVE_COLUMNS
    )


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


# ------------------------------------------------------------------ over replicates


def test_mean_curve_reads_each_replicate_on_every_measured_dist_up_to_the_shortest_reach():
    first = _curve([0.0, 0.1, 0.3], [0.0, 0.4, 1.0])
    second = _curve([0.0, 0.2, 0.25], [0.2, 0.6, 0.8])
    mean = mean_curve([first, second])
    assert list(mean.columns) == ["dist", "error", "low", "high"]
    assert list(mean["dist"]) == pytest.approx([0.0, 0.1, 0.2, 0.25])  # 0.3: beyond the second's reach
    # at 0.2: the first reads 0.7, the second 0.6
    row = mean[np.isclose(mean["dist"], 0.2)].iloc[0]
    assert (row["error"], row["low"], row["high"]) == pytest.approx((0.65, 0.6, 0.7))


def test_mean_curve_of_three_replicates_has_a_t_band_around_the_mean():
    curves = [_curve([0.0, 0.2], [0.0, value]) for value in (0.5, 0.6, 0.7)]
    end = mean_curve(curves).iloc[-1]
    half = 4.302653 * 0.1 / math.sqrt(3)
    assert (end["error"], end["low"], end["high"]) == pytest.approx((0.6, 0.6 - half, 0.6 + half), abs=1e-6)
