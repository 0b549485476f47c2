"""Fig. 1: example test digits under Gaussian and gradient-sign noise at several distortions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from .artifacts import load_sign_map
from .attacks import add_gaussian_noise, apply_sign
from .curves import read_curve, strength_at_dist
from .data import load_split
from .plots import NOISE_TITLES, plt, save_figure  # plt with the file-only Agg backend plots selects


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
    save_figure(figure, output)
