"""Error-versus-distortion curves as stored by the sweeps (CSV): reading them, and
reading values off them by linear interpolation. Torch-free, so the table and figure
jobs that only read curves do not pay torch's import."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..io.storage import read_csv_checked

CURVE_COLUMNS = ["level", "strength", "dist", "error"]
# Table 2's cells measured at the strength whose dist is the target (evaluation.sweeps.errors_at_dists).
CELL_COLUMNS = ["target_dist", "strength", "dist", "error"]


def read_curve(path: str) -> pd.DataFrame:
    """Load a sweep CSV, checking it has the columns a curve must have."""
    return read_csv_checked(path, CURVE_COLUMNS, "curve")


def read_cells(path: str) -> pd.DataFrame:
    """A method's measured Table 2 cells, as written by the table2_cells rule."""
    return read_csv_checked(path, CELL_COLUMNS, "Table 2 cells")


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
