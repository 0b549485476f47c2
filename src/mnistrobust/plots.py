"""Error-versus-distortion figures (Figs. 3-7, the baseline's curves, the strong-attack curves).

Torch-free: these jobs only read curve CSVs. Fig. 1's noisy digits: digit_figures.py."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # figures are files; no display is needed or present
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .curves import read_curve  # noqa: E402
from .storage import atomic_path  # noqa: E402

NOISE_TITLES = {
    "gaussian": "Gaussian noise",
    "fgsm": "gradient-sign noise (FGSM)",
    "fgsm_oblivious": "gradient-sign noise, oblivious attack",
}


def save_figure(figure: plt.Figure, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=150, bbox_inches="tight")
    plt.close(figure)


def error_curves(curves: pd.DataFrame, title: str, output: str) -> None:
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
    save_figure(grid.figure, output)


def load_curves(paths: Mapping[tuple[str, str], str]) -> pd.DataFrame:
    """Read curves keyed by (method label, noise) into one tidy frame."""
    frames = [read_curve(path).assign(method=method, noise=noise) for (method, noise), path in paths.items()]
    return pd.concat(frames, ignore_index=True)


def figure_from_spec(curve_specs: Sequence[Mapping[str, str]], paths: Sequence[str], title: str, output: str) -> None:
    """One configured figure: ``curve_specs`` are {label, noise} in the order of their CSV ``paths``."""
    curves = load_curves({(spec["label"], spec["noise"]): path for spec, path in zip(curve_specs, paths)})
    error_curves(curves, title, output)


def strong_attack_curves(results: pd.DataFrame, title: str, output: str) -> None:
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
    save_figure(grid.figure, output)
