"""The sweeps' CSV files: an error-versus-distortion curve per method and noise, and Table
2's cells. The evaluation writes them, the reports read them; torch-free."""

from __future__ import annotations

import pandas as pd

from .storage import read_csv_checked

CURVE_COLUMNS = ["level", "strength", "dist", "error"]
# Table 2's cells measured at the strength whose dist is the target (evaluation.sweeps.errors_at_dists).
CELL_COLUMNS = ["target_dist", "strength", "dist", "error"]


def read_curve(path: str) -> pd.DataFrame:
    """Load a sweep CSV, checking it has the columns a curve must have."""
    return read_csv_checked(path, CURVE_COLUMNS, "curve")


def read_cells(path: str) -> pd.DataFrame:
    """A method's measured Table 2 cells, as written by the table2_cells rule."""
    return read_csv_checked(path, CELL_COLUMNS, "Table 2 cells")
