"""Table 2 (each method's adversarial-noise error read off its curve at fixed distortions)
and the one markdown writer every table uses."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from ..errors import ConfigError
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
# How each row was attacked, as the table names it.
ATTACK_NAMES = {
    "fgsm": "gradient sign, end to end",
    "fgsm_oblivious": "gradient sign, oblivious",
    "fgsm_bpda": "gradient sign, BPDA",
    "gaussian": "Gaussian noise",
}


def tolerance_pct(dist: float) -> float:
    return next((value for at, value in TOLERANCE_PCT.items() if math.isclose(dist, at)), NOISY_TOLERANCE_PCT)


def verdict(ours: float, paper: float, dist: float) -> str:
    """'reproduced' within the tolerance at ``dist``, 'differs' outside it, '' for a row the paper does not have."""
    if math.isnan(paper):
        return ""
    return REPRODUCED if abs(ours - paper) <= tolerance_pct(dist) else DIFFERS


def table2(
    curves: Mapping[str, pd.DataFrame],
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
    labels (our extra rows) get NaN there and no verdict.
    """
    rows = []
    for method, curve in curves.items():
        attack = (attacks or {}).get(method, "fgsm")
        read_off = [100 * error for error in error_at_dist(curve, dists)]
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


def measured_errors(cells: pd.DataFrame, dists: Sequence[float]) -> list[float]:
    """The measured error (a fraction) at each of ``dists``; a dist that was not measured is an error."""
    values = []
    for dist in dists:
        match = cells[[math.isclose(target, dist, abs_tol=1e-12) for target in cells["target_dist"]]]
        if match.empty:
            raise ConfigError(f"no cell measured at dist {dist:g} (measured: {list(cells['target_dist'])})")
        values.append(float(match["error"].iloc[0]))
    return values


def _cell(ours: float, paper: float, diff: float, verdict: str) -> str:
    if math.isnan(paper):  # a row of ours the paper does not have
        return f"{ours:.2f} (not in paper)"
    return f"{ours:.2f} ({paper:.2f}, {diff:+.2f}) {verdict}"


def reproduced_count(table: pd.DataFrame) -> str:
    """The line under the table: how many of the paper's cells we reproduce."""
    judged = table[table["verdict"] != ""]
    dists_by_tolerance: dict[float, list[str]] = {}
    for dist in dict.fromkeys(judged["dist"]):
        dists_by_tolerance.setdefault(tolerance_pct(dist), []).append(f"{dist:g}")
    within = " and ".join(f"±{tol:g} points at dist {'/'.join(d)}" for tol, d in dists_by_tolerance.items())
    return f"Reproduced: {(judged['verdict'] == REPRODUCED).sum()} of {len(judged)} cells of the paper ({within})."


def to_markdown(table: pd.DataFrame) -> str:
    """Wide layout as in the paper: one line per method and attack, 'ours (paper, diff) verdict'
    per distortion, and the reproduced count under it."""
    dists = list(dict.fromkeys(table["dist"]))
    header = ["method (attack)", *(f"dist={d:g}: ours (paper, diff)" for d in dists)]
    rows = [
        [
            f"{method} ({ATTACK_NAMES.get(attack, attack)})",
            *(_cell(row.ours_pct, row.paper_pct, row.diff_pct, row.verdict) for row in group.itertuples()),
        ]
        for (method, attack), group in table.groupby(["method", "attack"], sort=False)
    ]
    return markdown_table(header, rows) + "\n" + reproduced_count(table) + "\n"
