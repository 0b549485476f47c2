"""Error-versus-distortion curves as stored by the sweeps (``io.curves``): values read off
them by linear interpolation, and their means over replicates. Torch-free, so the table
and figure jobs that only read curves do not pay torch's import."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..statistics import replicate_interval


def error_at_dist(curve: pd.DataFrame, dists: Sequence[float]) -> list[float]:
    """Linear interpolation of error (as a fraction) at each requested distortion.

    A distortion beyond the measured range gives NaN rather than an extrapolation.
    """
    ordered = curve.sort_values("dist")
    measured_dist = ordered["dist"].to_numpy()
    measured_error = ordered["error"].to_numpy()
    values = []
    for target in dists:
        if target < measured_dist[0] - 1e-12 or target > measured_dist[-1] + 1e-12:
            values.append(math.nan)
        else:
            values.append(float(np.interp(target, measured_dist, measured_error)))
    return values


def strength_at_dist(curve: pd.DataFrame, dist: float) -> float:
    """The noise strength whose measured distortion is ``dist`` (for showing examples)."""
    ordered = curve.sort_values("dist")
    if dist > ordered["dist"].iloc[-1]:
        raise ConfigError(f"dist {dist} is beyond the sweep's largest distortion {ordered['dist'].iloc[-1]:.3f}")
    return float(np.interp(dist, ordered["dist"], ordered["strength"]))


def mean_curve(curves: Sequence[pd.DataFrame], confidence: float = 0.95) -> pd.DataFrame:
    """The mean of one curve's replicates and its band (statistics.replicate_interval) at
    every dist any replicate measured, up to the largest dist all of them reach; each
    replicate is read there by linear interpolation (their dists differ a little: each
    replicate's network gives its own gradient signs). Columns dist, error, low, high
    (the band within [0, 1], an error's range)."""
    ordered = [curve.sort_values("dist") for curve in curves]
    reach = min(curve["dist"].iloc[-1] for curve in ordered)
    grid = np.unique(np.concatenate([curve["dist"].to_numpy() for curve in ordered]))
    grid = grid[grid <= reach + 1e-12]
    errors = np.column_stack([np.interp(grid, curve["dist"], curve["error"]) for curve in ordered])
    rows = [(dist, *replicate_interval(values, confidence, bounds=(0.0, 1.0))[:3]) for dist, values in zip(grid, errors)]
    return pd.DataFrame(rows, columns=["dist", "error", "low", "high"])
