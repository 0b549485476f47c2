"""The mean and its t-based confidence interval, for the human study's subjects and for
the replicates of Table 2.

The Student-t quantile is computed here (numerical integration of the density and
bisection) so that the project needs no SciPy for one number.
"""

from __future__ import annotations

import functools
import math

import numpy as np

_GRID = 20001  # Simpson points: quantiles good to ~1e-9 for the confidence levels used


def student_t_cdf(x: float, df: float) -> float:
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    if x < 0:
        return 1.0 - student_t_cdf(-x, df)
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    # t = tan(u) maps [0, x] onto a bounded u range where the integrand is smooth for every df.
    upper = math.atan(x)
    u = np.linspace(0.0, upper, _GRID)
    t = np.tan(u)
    density = np.exp(log_norm - (df + 1) / 2 * np.log1p(t * t / df)) / np.cos(u) ** 2
    weights = np.ones(_GRID)
    weights[1:-1:2], weights[2:-1:2] = 4, 2
    return 0.5 + float((upper / (_GRID - 1)) / 3 * (weights * density).sum())


@functools.lru_cache(maxsize=256)
def student_t_quantile(probability: float, df: float) -> float:
    """x with P(T <= x) = probability for Student's t with ``df`` degrees of freedom."""
    if not 0 < probability < 1:
        raise ValueError(f"probability must be in (0, 1), got {probability}")
    if probability < 0.5:
        return -student_t_quantile(1 - probability, df)
    low, high = 0.0, 1.0
    while student_t_cdf(high, df) < probability:
        low, high = high, high * 2
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if student_t_cdf(middle, df) < probability else (low, middle)
    return (low + high) / 2


def mean_confidence(values, confidence: float = 0.95) -> dict[str, float]:
    """n, mean, sample sd and the t-based confidence interval of the mean (NaN where n is too small)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    n = len(values)
    mean = float(values.mean()) if n else math.nan
    sd = float(values.std(ddof=1)) if n > 1 else math.nan
    half = student_t_quantile(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n) if n > 1 else math.nan
    return {"n": n, "mean": mean, "sd": sd, "ci_low": mean - half, "ci_high": mean + half}


def interval_name(replicates: int, confidence: float = 0.95) -> str:
    """How the interval over ``replicates`` values is formed, as tables and figures name it.
    Two values give no useful t-interval (its t quantile is 12.7), so they are shown as
    their range."""
    if replicates >= 3:
        return f"{100 * confidence:g}% t-interval"
    return "min-max" if replicates == 2 else ""


def replicate_interval(
    values, confidence: float = 0.95, bounds: tuple[float, float] = (-math.inf, math.inf)
) -> tuple[float, float, float, str]:
    """The mean of ``values`` (one per replicate), its interval (the t-interval at
    ``confidence`` from three values on, their min and max for two, none for one) and the
    interval's name (interval_name). A t-interval is symmetric about the mean; ``bounds``
    (e.g. 0 and 100 for an error in %) cuts it to the values the quantity can take."""
    values = np.asarray(values, dtype=np.float64)
    name = interval_name(len(values), confidence)
    if len(values) >= 3:
        stats = mean_confidence(values, confidence)
        low, high = max(stats["ci_low"], bounds[0]), min(stats["ci_high"], bounds[1])
        return stats["mean"], low, high, name
    if len(values) == 2:
        return float(values.mean()), float(values.min()), float(values.max()), name
    return float(values.mean()), math.nan, math.nan, name
