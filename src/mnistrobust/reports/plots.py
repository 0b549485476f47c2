"""Error-versus-distortion figures (Figs. 3-7, the baseline's curves, the strong-attack curves).

Torch-free. Each function returns a matplotlib figure; the jobs layer saves it
(``io.storage.save_figure``). Fig. 1's noisy digits: figures.py."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # figures are files; no display is needed or present
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from ..attacks.catalog import ROBUST  # noqa: E402
from .tables import PAPER_DISTS, PAPER_TABLE2  # noqa: E402

NOISE_TITLES = {
    "gaussian": "Gaussian noise",
    "fgsm": "gradient-sign noise (FGSM)",
    "fgsm_oblivious": "gradient-sign noise, oblivious attack",
    "fgsm_bpda": "gradient-sign noise, BPDA",
}
PAPER_LABEL = "paper (Table 2)"
PAPER_GID = "paper_table2"  # tells the paper's marker artists from the curves (tests, SVG editing)
BAND_GID = "replicate_band"
PAPER_MARKER = {"linestyle": "none", "marker": "o", "markersize": 7, "markerfacecolor": "none", "markeredgewidth": 1.5}
# One (marker, dash pattern) per strong-attack method, distinct for up to 12 methods (the table has 10).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "p", "h", "<", ">", "d")
DASHES = (
    (),
    (4, 1.5),
    (1, 1),
    (3, 1.25, 1.5, 1.25),
    (5, 1, 1, 1),
    (5, 1, 2, 1, 2, 1),
    (2, 2, 3, 1.5),
    (1, 2.5, 3, 1.2),
    (4, 1, 1, 1, 1, 1),
    (6, 2),
    (2, 1, 2, 1, 6, 1),
    (1, 1, 1, 1, 4, 2),
)
STRONG_ATTACKS = {"fgsm": "FGSM (the paper's attack)", ROBUST: "robust error (worst case over all attacks)"}


def paper_points(curve_specs: Sequence[Mapping[str, str]], table2_rows: Sequence[Mapping[str, str]]) -> pd.DataFrame:
    """The paper's Table 2 errors for each curve that reproduces a Table 2 row (same method and
    noise), so a figure shows how close the reproduction comes.

    Tidy like the curves: method (the curve's label), noise, dist, error (fraction); empty when
    no curve has a Table 2 row with a paper value.
    """
    paper = {}
    for row in table2_rows:
        if row["label"] in PAPER_TABLE2:
            paper.setdefault((row["method"], row["noise"]), PAPER_TABLE2[row["label"]])
    rows = [
        {"method": spec["label"], "noise": spec["noise"], "dist": dist, "error": value / 100}
        for spec in curve_specs
        for dist, value in zip(PAPER_DISTS, paper.get((spec.get("method"), spec["noise"]), ()))
    ]
    return pd.DataFrame(rows, columns=["method", "noise", "dist", "error"])


def error_curves(
    curves: pd.DataFrame,
    title: str,
    paper: pd.DataFrame | None = None,
    bands: pd.DataFrame | None = None,
    band_label: str = "",
) -> plt.Figure:
    """Error (%) against dist, one panel per noise type, one line per method.

    ``curves`` is tidy: columns method, noise, dist, error (fraction). ``paper`` (as from
    ``paper_points``) is drawn as hollow markers in its curve's colour, to compare at a glance.
    ``bands`` (method, noise, dist, low, high; fractions) are shaded around their curves,
    e.g. the interval over replicates, which ``band_label`` names in the legend.
    """
    frame = curves.assign(error_pct=100 * curves["error"], noise=curves["noise"].map(NOISE_TITLES))
    sns.set_theme(style="whitegrid", context="paper")
    methods = list(dict.fromkeys(frame["method"]))
    palette = dict(zip(methods, sns.color_palette(n_colors=len(methods))))
    grid = sns.relplot(
        data=frame,
        x="dist",
        y="error_pct",
        hue="method",
        hue_order=methods,
        palette=palette,
        col="noise",
        kind="line",
        height=3.2,
        aspect=1.2,
        legend=False,
        facet_kws={"sharey": True},
    )
    legend = {method: Line2D([], [], color=palette[method], linewidth=1.5) for method in methods}
    if paper is not None and len(paper):
        for (method, noise), points in paper.groupby(["method", "noise"], sort=False):
            grid.axes_dict[NOISE_TITLES[noise]].plot(
                points["dist"], 100 * points["error"], color=palette[method], gid=PAPER_GID, zorder=3, **PAPER_MARKER
            )
        legend[PAPER_LABEL] = Line2D([], [], color="0.3", **PAPER_MARKER)
    if bands is not None and len(bands):
        for (method, noise), band in bands.groupby(["method", "noise"], sort=False):
            grid.axes_dict[NOISE_TITLES[noise]].fill_between(
                band["dist"], 100 * band["low"], 100 * band["high"], color=palette[method], alpha=0.2,
                linewidth=0, gid=BAND_GID,
            )  # fmt: skip
        legend[band_label or "band"] = Patch(color="0.3", alpha=0.2, linewidth=0)
    grid.add_legend(legend_data=legend, title="")
    grid.set_axis_labels("dist (mean absolute pixel change, Eq. 2)", "generalization error (%)")
    grid.set_titles("{col_name}")
    grid.figure.suptitle(title, y=1.03, fontsize=10)
    return grid.figure


def strong_attack_curves(results: pd.DataFrame, title: str, eps: Sequence[float]) -> plt.Figure:
    """Beyond the paper: error (%) against L-inf eps per method, FGSM beside the worst case
    over all attacks. ``results`` is tidy: columns method, attack, eps, error (fraction).

    Only the reported ``eps`` are drawn: the sanity eps is a check of the attacks (the table
    flags it), and its far-off point would squeeze the reported range. Each method has its own
    colour, dash pattern and marker, so lines stay apart in grey print and where colours are close.
    """
    reported = np.isclose(results["eps"].to_numpy()[:, None], np.asarray(eps, dtype=float)[None, :]).any(axis=1)
    shown = results[results["attack"].isin(list(STRONG_ATTACKS)) & reported]
    frame = shown.assign(error_pct=100 * shown["error"], attack=shown["attack"].map(STRONG_ATTACKS))
    # Legend from the highest line to the lowest (robust error, then FGSM, averaged over eps),
    # so its order matches the lines' where they bunch near 100%.
    height = frame.pivot_table(index="method", columns="attack", values="error_pct", aggfunc="mean")
    ranking = [STRONG_ATTACKS[attack] for attack in (ROBUST, "fgsm") if STRONG_ATTACKS[attack] in height]
    methods = list(height.sort_values(ranking, ascending=False).index)
    sns.set_theme(style="whitegrid", context="paper")
    palette = dict(zip(methods, sns.color_palette(n_colors=len(methods))))
    markers = {method: MARKERS[i % len(MARKERS)] for i, method in enumerate(methods)}
    dashes = {method: DASHES[i % len(DASHES)] for i, method in enumerate(methods)}
    grid = sns.relplot(
        data=frame,
        x="eps",
        y="error_pct",
        hue="method",
        style="method",
        hue_order=methods,
        style_order=methods,
        palette=palette,
        markers=markers,
        dashes=dashes,
        col="attack",
        col_order=[name for name in STRONG_ATTACKS.values() if name in set(frame["attack"])],
        kind="line",
        markersize=7,
        markeredgewidth=0.6,
        legend=False,
        height=3.4,
        aspect=1.15,
        facet_kws={"sharey": True},
    )
    legend = {
        method: Line2D(
            [],
            [],
            color=palette[method],
            marker=markers[method],
            markersize=7,
            markeredgecolor="white",
            markeredgewidth=0.6,
            dashes=dashes[method],
        )
        for method in methods
    }
    # Long handles so each dash pattern shows in the legend.
    grid.add_legend(legend_data=legend, title="", handlelength=4)
    grid.set(xticks=sorted(eps))
    grid.set_axis_labels("L-inf eps", "error (%)")
    grid.set_titles("{col_name}")
    # Wrapped to the figure's width here (wrap=True makes bbox_inches="tight" keep a blank
    # band, and one long line widens the saved figure to the title's length), bottom-anchored
    # above the panels, however many lines the budgets take.
    wrapped = "\n".join(textwrap.wrap(title, width=150))
    grid.figure.suptitle(wrapped, y=1.02, va="bottom", fontsize=8)
    return grid.figure
