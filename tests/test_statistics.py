"""Student-t quantiles and the mean's confidence interval on known cases."""

from __future__ import annotations

import math

import pytest

from mnistrobust.statistics import mean_confidence, replicate_interval, student_t_quantile


@pytest.mark.parametrize(
    ("df", "quantile"),
    [(1, 12.706205), (2, 4.302653), (5, 2.570582), (19, 2.093024), (56, 2.003241), (1000, 1.962339)],
)
def test_student_t_quantile_matches_the_published_table(df, quantile):
    assert student_t_quantile(0.975, df) == pytest.approx(quantile, abs=2e-6)
    assert student_t_quantile(0.025, df) == pytest.approx(-quantile, abs=2e-6)


def test_mean_sd_and_95_percent_region_of_a_known_small_case():
    stats = mean_confidence([0.8, 0.9, 1.0], confidence=0.95)
    half = 4.302653 * 0.1 / math.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert stats["n"] == 3
    assert stats["mean"] == pytest.approx(0.9)
    assert stats["sd"] == pytest.approx(0.1)
    assert (stats["ci_low"], stats["ci_high"]) == pytest.approx((0.9 - half, 0.9 + half), abs=1e-6)


def test_one_value_has_a_mean_but_no_spread():
    stats = mean_confidence([0.7])
    assert stats["mean"] == 0.7 and math.isnan(stats["sd"]) and math.isnan(stats["ci_low"])


def test_replicate_interval_is_the_t_interval_from_three_values_and_the_range_for_two():
    mean, low, high, name = replicate_interval([0.8, 0.9, 1.0])
    half = 4.302653 * 0.1 / math.sqrt(3)
    assert (mean, low, high) == pytest.approx((0.9, 0.9 - half, 0.9 + half), abs=1e-6)
    assert name == "95% t-interval"
    mean, low, high, name = replicate_interval([0.8, 1.0])
    assert (mean, low, high, name) == (pytest.approx(0.9), 0.8, 1.0, "min-max")
    assert replicate_interval([0.7], confidence=0.9)[3] == "" and replicate_interval([0.7, 0.8, 0.9], 0.9)[3] == "90% t-interval"
    mean, low, high, _ = replicate_interval([0.98, 0.99, 1.0], bounds=(0.0, 1.0))
    assert high == 1.0 and low == pytest.approx(0.99 - 4.302653 * 0.01 / math.sqrt(3), abs=1e-6)
