"""Error-versus-distortion figures (Figs. 3-7, the baseline's curves, the strong-attack curves).

Torch-free. Each function returns a matplotlib figure; the jobs layer saves it
(``io.storage.save_figure``). Fig. 1's noisy digits: figures.py."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # figures are files; no display is needed or present
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

NOISE_TITLES = {
    "gaussian": "Gaussian noise",
    "fgsm": "gradient-sign noise (FGSM)",
    "fgsm_oblivious": "gradient-sign noise, oblivious attack",
}


def error_curves(curves: pd.DataFrame, title: str) -> plt.Figure:
    """Error (%) against dist, one panel per noise type, one line per method.

    ``curves`` is tidy: columns method, noise, dist, error (fraction).
    """
    frame = curves.assign(error_pct=100 * curves["error"], noise=curves["noise"].map(NOISE_TITLES))
    sns.set_theme(style="whitegrid", context="paper")
    grid = sns.relplot(
        data=frame, x="dist", y="error_pct", hue="method", col="noise", kind="line", height=3.2, aspect=1.2, facet_kws={"sharey": True}
    )
    grid.set_axis_labels("dist (mean absolute pixel change, Eq. 2)", "generalization error (%)")
    grid.set_titles("{col_name}")
    grid.figure.suptitle(title, y=1.03, fontsize=10)
    return grid.figure


def strong_attack_curves(results: pd.DataFrame, title: str) -> plt.Figure:
    """Beyond the paper: error (%) against L-inf eps per method, FGSM beside the worst case
    over all attacks. ``results`` is tidy: columns method, attack, eps, error (fraction)."""
    shown = results[results["attack"].isin(["fgsm", "robust"])]
    frame = shown.assign(
        error_pct=100 * shown["error"],
        attack=shown["attack"].map({"fgsm": "FGSM (the paper's attack)", "robust": "robust error (worst case over all attacks)"}),
    )
    sns.set_theme(style="whitegrid", context="paper")
    grid = sns.relplot(
        data=frame, x="eps", y="error_pct", hue="method", col="attack", kind="line", marker="o", height=3.4, aspect=1.15, facet_kws={"sharey": True}
    )
    grid.set_axis_labels("L-inf eps", "error (%)")
    grid.set_titles("{col_name}")
    # Two lines rather than wrap=True, which makes bbox_inches="tight" keep a blank band.
    grid.figure.suptitle(title.replace("; reference:", "\nreference:"), y=1.08, fontsize=8)
    return grid.figure
