"""Table 2 (each method's adversarial-noise error read off its curve at fixed distortions)
and the one markdown writer every table uses."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..statistics import replicate_interval
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


# A cell is reproduced when ours is this close to the paper's value (percentage points):
# the clean error is a fine measurement, the error under noise a coarse one.
TOLERANCE_PCT = {0.0: 0.3}
NOISY_TOLERANCE_PCT = 5.0
REPRODUCED, DIFFERS = "reproduced", "differs"
# How each row was attacked (its noise), as the table names it.
NOISE_LABELS = {
    "fgsm": "gradient sign, end to end",
    "fgsm_oblivious": "gradient sign, oblivious",
    "fgsm_bpda": "gradient sign, BPDA",
    "gaussian": "Gaussian noise",
}


def tolerance_pct(dist: float) -> float:
    return next((value for at, value in TOLERANCE_PCT.items() if math.isclose(dist, at)), NOISY_TOLERANCE_PCT)


def verdict(ours: float, paper: float, dist: float, low: float = math.nan, high: float = math.nan) -> str:
    """'reproduced' within the tolerance at ``dist`` or with the paper's value inside our
    interval [low, high] (replicates), 'differs' otherwise, '' for a row the paper does not have."""
    if math.isnan(paper):
        return ""
    inside = low <= paper <= high  # False for the NaN of a single run
    return REPRODUCED if abs(ours - paper) <= tolerance_pct(dist) or inside else DIFFERS


def table2(
    curves: Mapping[str, pd.DataFrame] | None,
    dists: Sequence[float],
    attacks: Mapping[str, str] | None = None,
    cells: Mapping[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """One row per (method, dist): the attack, our error, its reading off the curve, the
    paper's error, the difference (in percent) and the verdict.

    ``curves`` maps a row label to its curve, ``attacks`` the label to the noise of that
    curve (default: fgsm) and ``cells`` the label to its cells measured at exactly these
    dists (evaluation.sweeps.errors_at_dists). Ours is the measured cell where given, else
    the curve's linear interpolation. Labels of the paper's rows get its values; other
    labels (our extra rows) get NaN there and no verdict. With ``curves`` None (a replicate
    without sweeps, config replicate_curves: false) the rows are the cells' and nothing is
    read off a curve (curve_pct NaN).
    """
    if curves is None and cells is None:
        raise ValueError("Table 2 needs curves or cells")
    rows = []
    for method in curves if curves is not None else cells:
        attack = (attacks or {}).get(method, "fgsm")
        if curves is None:
            read_off = [math.nan] * len(dists)
        else:
            read_off = [100 * error for error in error_at_dist(curves[method], dists)]
        measured = read_off if cells is None else [100 * error for error in measured_errors(cells[method], dists)]
        for dist, ours, from_curve in zip(dists, measured, read_off):
            paper = paper_value(method, dist)
            rows.append(
                {
                    "method": method,
                    "attack": attack,
                    "dist": dist,
                    "ours_pct": ours,
                    "curve_pct": from_curve,
                    "paper_pct": paper,
                    "diff_pct": ours - paper,
                    "verdict": verdict(ours, paper, dist),
                }
            )
    return pd.DataFrame(rows, columns=TABLE2_COLUMNS)


TABLE2_COLUMNS = ["method", "attack", "dist", "ours_pct", "curve_pct", "paper_pct", "diff_pct", "verdict"]
# Over replicates: ours_pct and curve_pct are means (curve_pct over the replicates with
# curves), [low_pct, high_pct] the interval (`interval`: its name, statistics.interval_name), replicate_pct each
# replicate's value ('; '-separated).
REPLICATED_TABLE2_COLUMNS = [
    "method", "attack", "dist", "replicates", "ours_pct", "low_pct", "high_pct", "interval",
    "replicate_pct", "curve_pct", "paper_pct", "diff_pct", "verdict",
]  # fmt: skip


def replicated_table2(tables: Sequence[pd.DataFrame], confidence: float = 0.95) -> pd.DataFrame:
    """Table 2 over replicates from each replicate's :func:`table2` (the same rows in the same
    order): per cell the mean, its interval (statistics.replicate_interval), each replicate's
    value, the mean curve reading, the paper's value, the mean's difference and the verdict."""
    if len(tables) < 2:
        raise ValueError(f"replicated_table2 needs at least 2 replicates, got {len(tables)}")
    keys = [table[["method", "attack", "dist"]].to_numpy().tolist() for table in tables]
    if any(key != keys[0] for key in keys[1:]):
        raise ConfigError("the replicates' Table 2 rows differ; every replicate needs the same rows")
    ours = np.column_stack([table["ours_pct"].to_numpy() for table in tables])
    curve = np.column_stack([table["curve_pct"].to_numpy() for table in tables])
    rows = []
    for index, first in enumerate(tables[0].itertuples()):
        mean, low, high, interval = replicate_interval(ours[index], confidence, bounds=(0.0, 100.0))
        rows.append(
            {
                "method": first.method,
                "attack": first.attack,
                "dist": first.dist,
                "replicates": len(tables),
                "ours_pct": mean,
                "low_pct": low,
                "high_pct": high,
                "interval": interval,
                "replicate_pct": "; ".join(f"{value:.4g}" for value in ours[index]),
                "curve_pct": float(np.nanmean(curve[index])) if not np.isnan(curve[index]).all() else math.nan,
                "paper_pct": first.paper_pct,
                "diff_pct": mean - first.paper_pct,
                "verdict": verdict(mean, first.paper_pct, first.dist, low, high),
            }
        )
    return pd.DataFrame(rows, columns=REPLICATED_TABLE2_COLUMNS)


def measured_errors(cells: pd.DataFrame, dists: Sequence[float]) -> list[float]:
    """The measured error (a fraction) at each of ``dists``; a dist that was not measured is an error."""
    values = []
    for dist in dists:
        match = cells[[math.isclose(target, dist, abs_tol=1e-12) for target in cells["target_dist"]]]
        if match.empty:
            raise ConfigError(f"no cell measured at dist {dist:g} (measured: {list(cells['target_dist'])})")
        values.append(float(match["error"].iloc[0]))
    return values


def _cell(row) -> str:
    ours = f"{row.ours_pct:.2f}"
    if hasattr(row, "low_pct"):  # over replicates: the mean and its interval
        ours += f" [{row.low_pct:.2f}, {row.high_pct:.2f}]"
    if math.isnan(row.paper_pct):  # a row of ours the paper does not have
        return f"{ours} (not in paper)"
    return f"{ours} ({row.paper_pct:.2f}, {row.diff_pct:+.2f}) {row.verdict}"


def reproduced_count(table: pd.DataFrame) -> str:
    """The line under the table: how many of the paper's cells we reproduce."""
    judged = table[table["verdict"] != ""]
    dists_by_tolerance: dict[float, list[str]] = {}
    for dist in dict.fromkeys(judged["dist"]):
        dists_by_tolerance.setdefault(tolerance_pct(dist), []).append(f"{dist:g}")
    within = " and ".join(f"±{tol:g} points at dist {'/'.join(d)}" for tol, d in dists_by_tolerance.items())
    if "replicates" in table:
        replicates = int(table["replicates"].iloc[0])
        within = f"the mean of {replicates} replicates {within}, or the paper's value inside our interval"
    return f"Reproduced: {(judged['verdict'] == REPRODUCED).sum()} of {len(judged)} cells of the paper ({within})."


def to_markdown(table: pd.DataFrame) -> str:
    """Wide layout as in the paper: one line per method and attack, 'ours (paper, diff) verdict'
    per distortion (over replicates: 'mean [interval] (paper, diff) verdict'), and the
    reproduced count under it."""
    dists = list(dict.fromkeys(table["dist"]))
    ours = "ours" if "replicates" not in table else f"mean [{table['interval'].iloc[0]}]"
    header = ["method (attack)", *(f"dist={d:g}: {ours} (paper, diff)" for d in dists)]
    rows = [
        [f"{method} ({NOISE_LABELS.get(attack, attack)})", *(_cell(row) for row in group.itertuples())]
        for (method, attack), group in table.groupby(["method", "attack"], sort=False)
    ]
    return markdown_table(header, rows) + "\n" + reproduced_count(table) + "\n"
