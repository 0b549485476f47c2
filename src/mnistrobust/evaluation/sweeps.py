"""Error-versus-distortion sweeps of a method under one noise type, and clean errors
(the curves they make are read by reports/curves.py)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..attacks import FGSM, GaussianNoise
from ..attacks.core import distortion, total_absolute_change
from ..config import lowpass_filters, noise_kind
from ..errors import ConfigError
from ..io.curves import CELL_COLUMNS, CURVE_COLUMNS
from ..nets.methods import build_preprocess
from ..nets.models import Stacked, module_device
from ..progress import Log, Progress


def noise_strengths(max_strength: float, levels: int) -> np.ndarray:
    """``levels`` evenly spaced strengths from 0 (the clean set) to ``max_strength``."""
    if levels < 2 or max_strength <= 0:
        raise ConfigError(f"need at least 2 levels and a positive maximum strength, got {levels}, {max_strength}")
    return np.linspace(0.0, max_strength, levels)


def prepare_for_inference(model: nn.Module) -> nn.Module:
    """channels_last is about twice as fast as NCHW for LeNet's convolutions on the CPU."""
    return model.eval().to(memory_format=torch.channels_last)


def noise_generator(seed: int, level: int) -> torch.Generator:
    """The Gaussian noise of a sweep's level: one generator per level index, drawn batch by batch."""
    return torch.Generator().manual_seed(seed * 1_000_003 + level)


@torch.inference_mode()
def sweep(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    noise: str,
    strengths: Sequence[float],
    sign: torch.Tensor | None = None,
    seed: int = 0,
    batch_size: int = 512,
    log: Log = print,
) -> pd.DataFrame:
    """Error and Eq. 2 distortion of ``model`` at every strength, over the whole set.

    Batches are the outer loop so each clean batch (and its sign map) is read once for
    all levels; Gaussian noise comes from one generator per level index, seeded from
    ``seed`` and the index, so results repeat exactly for the same configuration.
    """
    kind = noise_kind(noise)
    if kind == "fgsm" and (sign is None or sign.shape != images.shape):
        raise ConfigError("the fgsm sweep needs a sign map of the same shape as the images")
    model = prepare_for_inference(model)
    device = module_device(model)
    generators = [noise_generator(seed, level) for level in range(len(strengths))]
    abs_change = np.zeros(len(strengths))
    wrong = np.zeros(len(strengths), dtype=np.int64)
    progress = Progress(f"{noise} sweep: images", len(images), log, unit=f"x {len(strengths)} levels")
    # Perturbations and dist are computed on the CPU (the same noise on every device); only
    # the network runs on ``device``.
    for start in range(0, len(images), batch_size):
        clean = images[start : start + batch_size].contiguous(memory_format=torch.channels_last)
        truth = labels[start : start + batch_size]
        batch_sign = None if sign is None else sign[start : start + batch_size].to(clean.dtype)
        for level, strength in enumerate(strengths):
            if kind == "gaussian":
                perturbed = GaussianNoise.perturb(clean, float(strength), generators[level])
            else:
                perturbed = FGSM.perturb(clean, batch_sign, float(strength))
            perturbed = perturbed.contiguous(memory_format=torch.channels_last)
            abs_change[level] += total_absolute_change(perturbed, clean)
            wrong[level] += (model(perturbed.to(device)).argmax(1).cpu() != truth).sum().item()
        progress.update(min(start + batch_size, len(images)))
    return pd.DataFrame(
        {
            "level": np.arange(len(strengths)),
            "strength": np.asarray(strengths, dtype=float),
            "dist": distortion(abs_change, len(images), images[0].numel()),
            "error": wrong / len(images),
        },
        columns=CURVE_COLUMNS,
    )


@torch.inference_mode()
def bisect_strength(
    images: torch.Tensor,
    noise: str,
    target: float,
    sign: torch.Tensor | None = None,
    seed: int = 0,
    batch_size: int = 512,
) -> float:
    """The strength at which ``noise`` moves ``images`` by exactly ``target`` (Eq. 2), with
    no forward pass (``bisect_strengths`` for one target)."""
    return bisect_strengths(images, noise, [target], sign, seed, batch_size)[0]


def bisect_strengths(
    images: torch.Tensor,
    noise: str,
    targets: Sequence[float],
    sign: torch.Tensor | None = None,
    seed: int = 0,
    batch_size: int = 512,
) -> list[float]:
    """For each target dist, the strength at which ``noise`` moves ``images`` by exactly that
    much (Eq. 2), with no forward pass; the noise is drawn once for all targets.

    With clipping to [0, 1], a pixel moves by min(strength * |d|, the room it has in d's
    direction), so dist is piecewise linear and non-decreasing in the strength, with a
    kink where each pixel saturates. Bisection over the sorted kinks finds the segment
    that holds the target, and the segment's line gives the strength exactly.

    The noise is the one ``sweep`` draws at level 0 with the same seed and batch size (the
    stored sign map for fgsm), so ``sweep(..., strengths=[found])`` measures the same dist
    (up to rounding) and its error is the Table 2 cell.
    """
    kind = noise_kind(noise)
    if kind == "fgsm" and (sign is None or sign.shape != images.shape):
        raise ConfigError("finding the fgsm strength needs a sign map of the same shape as the images")
    if all(target <= 0 for target in targets):
        return [0.0] * len(targets)
    if kind == "gaussian":
        generator = noise_generator(seed, 0)
        starts = range(0, len(images), batch_size)
        direction = torch.cat([torch.randn(images[s : s + batch_size].shape, generator=generator) for s in starts])
    else:
        direction = sign.to(images.dtype)
    speed = direction.abs().flatten().double()
    room = torch.where(direction > 0, 1 - images, images).flatten().double()
    pixels = room.numel()
    moving = speed > 0
    speed, room = speed[moving], room[moving]
    kinks, order = torch.sort(room / speed)
    speed, room = speed[order], room[order]
    # Below kink j, the j pixels before it are saturated and the rest still move:
    # pixels * dist = saturated_room[j] + strength * moving_speed[j].
    zero = torch.zeros(1, dtype=torch.float64)
    saturated_room = torch.cat([zero, torch.cumsum(room, 0)])
    moving_speed = speed.sum() - torch.cat([zero, torch.cumsum(speed, 0)])
    at_kinks = (saturated_room[:-1] + kinks * moving_speed[:-1]) / pixels
    saturated = float(saturated_room[-1] / pixels)
    strengths = []
    for target in targets:
        if target <= 0:
            strengths.append(0.0)
            continue
        if target > saturated:
            raise ConfigError(f"{noise} cannot move these images by dist {target}: it saturates at {saturated:.4f}")
        j = min(int(torch.searchsorted(at_kinks, torch.tensor([target], dtype=torch.float64))), len(kinks) - 1)
        strengths.append(float((target * pixels - saturated_room[j]) / moving_speed[j]))
    return strengths


def errors_at_dists(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    noise: str,
    dists: Sequence[float],
    sign: torch.Tensor | None = None,
    seed: int = 0,
    batch_size: int = 512,
    log: Log = print,
) -> pd.DataFrame:
    """Table 2's cells measured, not interpolated: for each dist, the strength found by
    ``bisect_strengths`` and the error of one sweep level there."""
    rows = []
    for dist, strength in zip(dists, bisect_strengths(images, noise, dists, sign, seed, batch_size)):
        row = sweep(model, images, labels, noise, [strength], sign, seed, batch_size, log=log).iloc[0]
        rows.append({"target_dist": float(dist), "strength": strength, "dist": row["dist"], "error": row["error"]})
        log(f"{noise} at dist {dist:g}: strength {strength:.6f} (measured dist {row['dist']:.6f}), error {100 * row['error']:.2f}%")
    return pd.DataFrame(rows, columns=CELL_COLUMNS)


def clean_error(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    model = prepare_for_inference(model)
    device = module_device(model)
    wrong = 0
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size].to(device).contiguous(memory_format=torch.channels_last)
            wrong += (model(batch).argmax(1).cpu() != labels[start : start + batch_size]).sum().item()
    return wrong / len(images)


def lowpass_clean_errors(
    classifier: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    lowpass: dict,
    sigmas: Sequence[float],
    log: Log = print,
) -> pd.DataFrame:
    """Clean test error of ``classifier`` behind each low-pass filter at each injected-noise sigma.

    The paper's rule for the filters is a clean error under 1%; this table is the record
    of how close each filter and noise strength come to it.
    """
    rows = []
    for name, kernel in lowpass_filters(lowpass).items():
        for sigma in sigmas:
            lowpass_filter = build_preprocess(name, {**lowpass, "noise_sigma": float(sigma)})
            error = clean_error(Stacked(lowpass_filter, classifier), images, labels)
            rows.append({"filter": name, "size": kernel["size"], "variance": kernel["variance"], "noise_sigma": float(sigma), "clean_error_pct": 100 * error})
            log(f"{name} (variance {kernel['variance']}) noise sigma {sigma}: clean error {100 * error:.2f}%")
    table = pd.DataFrame(rows)
    table["configured"] = np.isclose(table["noise_sigma"], lowpass["noise_sigma"])
    return table
