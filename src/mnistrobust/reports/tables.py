"""Table 2 (each method's adversarial-noise error read off its curve at fixed distortions)
and the one markdown writer every table uses."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from .curves import error_at_dist

# Paper's Table 2: generalization error (%) at dist = 0, 0.1, 0.2.
PAPER_TABLE2 = {
    "No method": (0.83, 73.6, 96.1),
    "Dropout": (0.91, 35.7, 98.1),
    "Low-pass filter": (1.38, 52.0, 95.0),
    "DAE": (1.27, 52.4, 93.2),
    "Low-pass filter + dropout": (2.51, 34.8, 88.5),
    "DAE + dropout": (1.56, 21.4, 90.3),
    "Standard committee": (0.86, 70.9, 97.2),
    "Adversarial training after 5 stages": (0.87, 44.5, 92.1),
    "Committee of models trained on adv. examples": (0.65, 9.8, 36.5),
}
PAPER_DISTS = (0.0, 0.1, 0.2)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None) -> str:
    """A GitHub markdown table of already formatted cells, with an optional bold title above."""
    lines = [f"**{title}**", ""] if title else []
    lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def paper_value(method: str, dist: float) -> float:
    for paper_dist, value in zip(PAPER_DISTS, PAPER_TABLE2.get(method, ())):
        if math.isclose(dist, paper_dist):
            return value
    return math.nan


def table2(curves: Mapping[str, pd.DataFrame], dists: Sequence[float]) -> pd.DataFrame:
    """One row per (method, dist): our error, the paper's and the difference, in percent.

    ``curves`` maps a row label to its curve; labels of the paper's rows get its values,
    other labels (our extra rows) get NaN there.
    """
    rows = []
    for method, curve in curves.items():
        for dist, error in zip(dists, error_at_dist(curve, dists)):
            ours, paper = 100 * error, paper_value(method, dist)
            rows.append({"method": method, "dist": dist, "ours_pct": ours, "paper_pct": paper, "diff_pct": ours - paper})
    return pd.DataFrame(rows, columns=["method", "dist", "ours_pct", "paper_pct", "diff_pct"])


def _cell(ours: float, paper: float, diff: float) -> str:
    if math.isnan(paper):  # a row of ours the paper does not have
        return f"{ours:.2f} (not in paper)"
    return f"{ours:.2f} ({paper:.2f}, {diff:+.2f})"


def to_markdown(table: pd.DataFrame) -> str:
    """Wide layout as in the paper: one line per method, 'ours (paper, diff)' per distortion."""
    dists = list(dict.fromkeys(table["dist"]))
    header = ["method", *(f"dist={d:g}: ours (paper, diff)" for d in dists)]
    rows = [
        [method, *(_cell(row.ours_pct, row.paper_pct, row.diff_pct) for row in group.itertuples())]
        for method, group in table.groupby("method", sort=False)
    ]
    return markdown_table(header, rows)
