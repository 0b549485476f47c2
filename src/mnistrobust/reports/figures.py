"""Fig. 1: example test digits under Gaussian and gradient-sign noise at several distortions.

Torch-free: the noisy digits come in as arrays (``jobs.reporting`` makes them with the
attacks), this module only lays them out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .plots import NOISE_TITLES, plt  # plt with the file-only Agg backend plots selects


def noise_examples(
    panels: Mapping[str, Sequence[tuple[float, float, np.ndarray]]], digits: int
) -> plt.Figure:
    """One block of rows per noise, one column per distortion level; ``panels[noise]`` lists
    (dist, strength, images digits x 28 x 28) per column."""
    columns = max(len(levels) for levels in panels.values())
    figure, axes = plt.subplots(
        len(panels) * digits,
        columns,
        figsize=(1.2 * columns, 1.35 * len(panels) * digits),
        squeeze=False,
        layout="constrained",
    )
    for block, (noise, levels) in enumerate(panels.items()):
        for column, (dist, strength, shown) in enumerate(levels):
            for index in range(digits):
                axis = axes[block * digits + index, column]
                axis.imshow(shown[index], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                axis.set_xticks([])
                axis.set_yticks([])
                if index == 0:
                    kind = "sigma" if noise == "gaussian" else "eps"
                    axis.set_title(f"dist={dist:g}\n{kind}={strength:.2f}", fontsize=7)
            axes[block * digits, 0].set_ylabel(NOISE_TITLES[noise], fontsize=7, rotation=90)
    figure.suptitle("Fig. 1: MNIST digits under Gaussian and gradient-sign noise", fontsize=9)
    return figure
