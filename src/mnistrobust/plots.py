"""Figures: example digits under both noises (Fig. 1) and error-versus-distortion curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # figures are files; no display is needed or present
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import torch  # noqa: E402

from .artifacts import load_sign_map  # noqa: E402
from .attacks import add_gaussian_noise, apply_sign  # noqa: E402
from .data import load_split  # noqa: E402
from .evaluation import read_curve, strength_at_dist  # noqa: E402
from .storage import atomic_path  # noqa: E402

NOISE_TITLES = {
    "gaussian": "Gaussian noise",
    "fgsm": "gradient-sign noise (FGSM)",
    "fgsm_oblivious": "gradient-sign noise, oblivious attack",
}


def _save(figure: plt.Figure, path: str) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=150, bbox_inches="tight")
    plt.close(figure)


def noise_examples(
    data_h5: str, sign_map: str, curve_paths: Mapping[str, str], dists: Sequence[float], digits: int, seed: int, output: str
) -> None:
    """Fig. 1: the first ``digits`` test images under each noise at each distortion level.

    The strength for a level is read off that noise's sweep, so the columns show the
    distortion the curves are plotted against.
    """
    images, _ = load_split(data_h5, "test", limit=digits)
    sign, _ = load_sign_map(sign_map)
    sign = sign[:digits]
    curves = {noise: read_curve(path) for noise, path in curve_paths.items()}
    figure, axes = plt.subplots(
        len(curves) * digits,
        len(dists),
        figsize=(1.2 * len(dists), 1.35 * len(curves) * digits),
        squeeze=False,
        layout="constrained",
    )
    for block, (noise, curve) in enumerate(curves.items()):
        for column, dist in enumerate(dists):
            strength = strength_at_dist(curve, dist)
            if noise == "gaussian":
                shown = add_gaussian_noise(images, strength, torch.Generator().manual_seed(seed))
            else:
                shown = apply_sign(images, sign, strength)
            for index in range(digits):
                axis = axes[block * digits + index, column]
                axis.imshow(shown[index, 0].numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                axis.set_xticks([])
                axis.set_yticks([])
                if index == 0:
                    axis.set_title(f"dist={dist:g}\n{'sigma' if noise == 'gaussian' else 'eps'}={strength:.2f}", fontsize=7)
            axes[block * digits, 0].set_ylabel(NOISE_TITLES[noise], fontsize=7, rotation=90)
    figure.suptitle("Fig. 1: MNIST digits under Gaussian and gradient-sign noise", fontsize=9)
    _save(figure, output)


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
    _save(grid.figure, output)


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
    _save(grid.figure, output)
