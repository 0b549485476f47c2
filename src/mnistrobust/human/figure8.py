"""Figure 8: accuracy of humans and LeNets per noise level, with confidence bands; USPS beside."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..reports.plots import plt  # plt with the file-only Agg backend plots selects
from .stimuli import FGSM, GAUSSIAN, NATURAL, USPS
from .tidy import HUMAN, LENET, SIMULATED

PANELS = {GAUSSIAN: ("Gaussian noise", "sigma"), FGSM: ("gradient-sign noise (adversarial)", "eps")}
STYLE = {
    LENET: {"color": "tab:blue", "marker": "o"},
    HUMAN: {"color": "tab:red", "marker": "s"},
    SIMULATED: {"color": "tab:gray", "marker": "x"},
}
SHORT_NAMES = {LENET: "LeNets", HUMAN: "humans", SIMULATED: "SIMULATED"}


def _label(population: str, n: int) -> str:
    if population == LENET:
        return f"LeNet models (n={n})"
    if population == SIMULATED:
        return f"SIMULATED subjects, not human (n={n})"
    return f"humans (n={n})"


def _curve(summary: pd.DataFrame, population: str, noise: str) -> pd.DataFrame:
    rows = summary[(summary["population"] == population) & summary["noise"].isin([NATURAL, noise])]
    return rows.sort_values("level")


def figure8(summary: pd.DataFrame, notes: Sequence[str], confidence: float) -> plt.Figure:
    """Mean accuracy against the level's design dist for each noise type, bands = confidence region
    (clipped to the possible 0..100%); USPS digits as one point per population."""
    figure, axes = plt.subplots(
        1, 3, figsize=(12.5, 4.2), gridspec_kw={"width_ratios": [3, 3, 1.2]}, layout="constrained"
    )
    populations = [population for population in (LENET, HUMAN, SIMULATED) if population in set(summary["population"])]
    for axis, (noise, (title, strength)) in zip(axes, PANELS.items()):
        for population in populations:
            curve = _curve(summary, population, noise)
            n = int(curve["n"].max())
            x = curve["design_dist"].to_numpy()
            axis.plot(x, 100 * curve["mean"], label=_label(population, n), **STYLE[population])
            low, high = (100 * np.clip(curve[key].to_numpy(dtype=float), 0, 1) for key in ("ci_low", "ci_high"))
            axis.fill_between(x, low, high, color=STYLE[population]["color"], alpha=0.2, linewidth=0)
        levels = _curve(summary, populations[0], noise)
        ticks = [f"{dist:.2f}\n{level:g}" for dist, level in zip(levels["design_dist"], levels["level"])]
        axis.set_xticks(levels["design_dist"], ticks, fontsize=7)
        axis.set_title(title, fontsize=10)
        axis.set_xlabel(f"dist (Eq. 2) of the level over the test set\n{strength}", fontsize=8)
        axis.set_ylim(0, 102)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("classification accuracy (%)")
    axes[0].legend(fontsize=8, loc="lower left")
    usps_axis = axes[2]
    for position, population in enumerate(populations):
        row = summary[(summary["population"] == population) & (summary["noise"] == USPS)].iloc[0]
        error = [[100 * (row["mean"] - max(row["ci_low"], 0))], [100 * (min(row["ci_high"], 1) - row["mean"])]]
        usps_axis.errorbar(
            [position], [100 * row["mean"]], yerr=error if row["n"] > 1 else None, capsize=4, **STYLE[population]
        )
    usps_axis.set_xticks(range(len(populations)), [SHORT_NAMES[population] for population in populations], fontsize=8)
    usps_axis.set_xlim(-0.6, len(populations) - 0.4)
    usps_axis.set_ylim(0, 102)
    usps_axis.set_title("USPS digits", fontsize=10)
    usps_axis.grid(alpha=0.3)
    figure.suptitle(
        f"Fig. 8: accuracy of humans and of LeNet models, mean with {confidence:.0%} confidence region", fontsize=11
    )
    for index, note in enumerate(notes):
        figure.text(0.5, -0.04 - 0.05 * index, note, ha="center", va="top", fontsize=11, color="darkred", weight="bold")
    return figure
