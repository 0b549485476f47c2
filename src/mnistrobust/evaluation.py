"""Error-versus-distortion sweeps of a method under one noise type (curves: curves.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .artifacts import load_sign_map
from .attacks import add_gaussian_noise, apply_sign
from .curves import CURVE_COLUMNS
from .data import load_split
from .errors import ConfigError
from .methods import build_method, build_preprocess
from .models import Stacked, module_device
from .naming import ATTACK_THREAT, lowpass_filters, noise_kind
from .storage import atomic_path


def noise_strengths(max_strength: float, levels: int) -> np.ndarray:
    """``levels`` evenly spaced strengths from 0 (the clean set) to ``max_strength``."""
    if levels < 2 or max_strength <= 0:
        raise ConfigError(f"need at least 2 levels and a positive maximum strength, got {levels}, {max_strength}")
    return np.linspace(0.0, max_strength, levels)


def prepare_for_inference(model: nn.Module) -> nn.Module:
    """channels_last is about twice as fast as NCHW for LeNet's convolutions on the CPU."""
    return model.eval().to(memory_format=torch.channels_last)


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
    log: Callable[[str], None] = print,
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
    generators = [torch.Generator().manual_seed(seed * 1_000_003 + level) for level in range(len(strengths))]
    abs_change = np.zeros(len(strengths))
    wrong = np.zeros(len(strengths), dtype=np.int64)
    started = time.perf_counter()
    # Perturbations and dist are computed on the CPU (the same noise on every device); only
    # the network runs on ``device``.
    for start in range(0, len(images), batch_size):
        clean = images[start : start + batch_size].contiguous(memory_format=torch.channels_last)
        truth = labels[start : start + batch_size]
        batch_sign = None if sign is None else sign[start : start + batch_size].to(clean.dtype)
        for level, strength in enumerate(strengths):
            if kind == "gaussian":
                perturbed = add_gaussian_noise(clean, float(strength), generators[level])
            else:
                perturbed = apply_sign(clean, batch_sign, float(strength))
            perturbed = perturbed.contiguous(memory_format=torch.channels_last)
            abs_change[level] += (perturbed - clean).abs().sum().item()
            wrong[level] += (model(perturbed.to(device)).argmax(1).cpu() != truth).sum().item()
        done = min(start + batch_size, len(images))
        log(f"{noise}: {done}/{len(images)} images x {len(strengths)} levels, {time.perf_counter() - started:.1f} s")
    pixels = images[0].numel() * len(images)
    return pd.DataFrame(
        {
            "level": np.arange(len(strengths)),
            "strength": np.asarray(strengths, dtype=float),
            "dist": abs_change / pixels,
            "error": wrong / len(images),
        },
        columns=CURVE_COLUMNS,
    )


def clean_error(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    model = prepare_for_inference(model)
    device = module_device(model)
    wrong = 0
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size].to(device).contiguous(memory_format=torch.channels_last)
            wrong += (model(batch).argmax(1).cpu() != labels[start : start + batch_size]).sum().item()
    return wrong / len(images)


def run_sweep(
    data_h5: str,
    method: str,
    spec: dict,
    member_checkpoints: Sequence[str],
    lowpass: dict,
    noise: str,
    settings: dict,
    test_images: int,
    output_csv: str,
    dae_checkpoint: str | None = None,
    sign_map: str | None = None,
    log: Callable[[str], None] = print,
    device: torch.device | str = "cpu",
) -> pd.DataFrame:
    """Sweep one method with one noise type and write the tidy curve CSV atomically."""
    kind = noise_kind(noise)
    network = build_method(method, spec, member_checkpoints, lowpass, dae_checkpoint).to(device)
    images, labels = load_split(data_h5, "test", limit=test_images)
    sign = None
    if kind == "fgsm":
        sign, _ = load_sign_map(sign_map, expect={"model": method, "threat": ATTACK_THREAT[noise], "images": len(images)})
    strengths = noise_strengths(settings["max_strength"][kind], settings["levels"])
    curve = sweep(network, images, labels, noise, strengths, sign=sign, seed=settings["noise_seed"], batch_size=settings["batch_size"], log=log)
    largest = curve["dist"].max()
    if largest < settings["min_max_dist"]:
        raise ConfigError(
            f"{noise} sweep of {method} reaches dist {largest:.3f} only, below min_max_dist "
            f"{settings['min_max_dist']}; raise evaluation.max_strength.{kind}"
        )
    curve.insert(0, "noise", noise)
    curve.insert(0, "model", method)
    with atomic_path(output_csv) as tmp:
        curve.to_csv(tmp, index=False, float_format="%.6g")
    log(f"{method} {noise}: dist 0..{largest:.3f}, error {100 * curve['error'].iloc[0]:.2f}% .. {100 * curve['error'].iloc[-1]:.2f}%")
    return curve


def lowpass_clean_errors(
    data_h5: str,
    checkpoint: str,
    lowpass: dict,
    sigmas: Sequence[float],
    test_images: int,
    output_csv: str,
    log: Callable[[str], None] = print,
    device: torch.device | str = "cpu",
) -> pd.DataFrame:
    """Clean test error of a classifier behind each low-pass filter at each injected-noise sigma.

    The paper's rule for the filters is a clean error under 1%; this table is the record
    of how close each filter and noise strength come to it.
    """
    images, labels = load_split(data_h5, "test", limit=test_images)
    # The classifier is read once; only the filter in front of it changes.
    classifier = build_method("lowpass_calibration", {"preprocess": "none", "members": [lowpass["calibration_model"]]}, [checkpoint], lowpass).to(device)
    rows = []
    for name, kernel in lowpass_filters(lowpass).items():
        for sigma in sigmas:
            lowpass_filter = build_preprocess(name, {**lowpass, "noise_sigma": float(sigma)}, dae_checkpoint=None)
            error = clean_error(Stacked(lowpass_filter, classifier), images, labels)
            rows.append({"filter": name, "size": kernel["size"], "variance": kernel["variance"], "noise_sigma": float(sigma), "clean_error_pct": 100 * error})
            log(f"{name} (variance {kernel['variance']}) noise sigma {sigma}: clean error {100 * error:.2f}%")
    table = pd.DataFrame(rows)
    table["configured"] = np.isclose(table["noise_sigma"], lowpass["noise_sigma"])
    with atomic_path(output_csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4g")
    return table
