"""Jobs of workflow/rules/evaluation.smk: one method's error-versus-dist sweep, its Table 2
cells measured at exact distortions, and the low-pass filters' clean errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch

from ..config import ATTACK_THREAT, noise_kind
from ..data import load_split
from ..errors import ConfigError
from ..evaluation.sweeps import errors_at_dists, lowpass_clean_errors, noise_strengths, sweep
from ..io.checkpoints import load_method
from ..io.hdf5 import load_sign_map
from ..io.storage import write_csv
from ..progress import Log
from .attacks import method_sign_map
from .runtime import resolve_device


def method_under_noise_arguments(snakemake: Any) -> dict:
    """What the sweep and table2_cells rules both hand over: the method's inputs and params,
    the noise, the test set's size and the device (as keyword arguments of their jobs)."""
    return {
        "data_h5": snakemake.input.data,
        "method": snakemake.wildcards.method,
        "spec": snakemake.params.spec,
        "member_checkpoints": list(snakemake.input.members),
        "lowpass": snakemake.params.lowpass,
        "noise": snakemake.params.noise,
        "settings": snakemake.params.evaluation,
        "test_images": snakemake.params.test_images,
        "dae_checkpoint": snakemake.input.get("dae"),
        "sign_map": snakemake.input.get("sign_map"),
        "device": resolve_device(snakemake.config["device"]),
    }


def _method_under_noise(
    data_h5: str,
    method: str,
    spec: dict,
    member_checkpoints: Sequence[str],
    lowpass: dict,
    noise: str,
    test_images: int,
    dae_checkpoint: str | None,
    sign_map: str | None,
    device: torch.device | str,
) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The method on ``device``, the test images and labels, and the sign map an fgsm noise
    needs: read from ``sign_map``, or computed here when no file is given (a replicate
    without curves, where nothing else reads it: one job's start-up less per cell)."""
    network = load_method(method, spec, member_checkpoints, lowpass, dae_checkpoint).to(device)
    images, labels = load_split(data_h5, "test", limit=test_images)
    sign = None
    if noise_kind(noise) == "fgsm" and sign_map is not None:
        sign, _ = load_sign_map(sign_map, expect={"model": method, "threat": ATTACK_THREAT[noise], "images": len(images)})
    elif noise_kind(noise) == "fgsm":
        threat = ATTACK_THREAT[noise]
        sign = method_sign_map(method, spec, member_checkpoints, lowpass, threat, images, labels, dae_checkpoint, device)
    return network, images, labels, sign


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
    log: Log = print,
    device: torch.device | str = "cpu",
) -> pd.DataFrame:
    """Sweep one method with one noise type and write the tidy curve CSV."""
    kind = noise_kind(noise)
    network, images, labels, sign = _method_under_noise(
        data_h5, method, spec, member_checkpoints, lowpass, noise, test_images, dae_checkpoint, sign_map, device
    )
    strengths = noise_strengths(settings["max_strength"][kind], settings["levels"])
    curve = sweep(
        network, images, labels, noise, strengths, sign=sign, seed=settings["noise_seed"],
        batch_size=settings["batch_size"], log=log,
    )
    largest = curve["dist"].max()
    if largest < settings["min_max_dist"]:
        raise ConfigError(
            f"{noise} sweep of {method} reaches dist {largest:.3f} only, below min_max_dist "
            f"{settings['min_max_dist']}; raise evaluation.max_strength.{kind}"
        )
    curve.insert(0, "noise", noise)
    curve.insert(0, "model", method)
    write_csv(curve, output_csv, float_format="%.6g")
    log(
        f"{method} {noise}: dist 0..{largest:.3f}, error {100 * curve['error'].iloc[0]:.2f}% .. "
        f"{100 * curve['error'].iloc[-1]:.2f}%"
    )
    return curve


def run_table2_cells(
    data_h5: str,
    method: str,
    spec: dict,
    member_checkpoints: Sequence[str],
    lowpass: dict,
    noise: str,
    settings: dict,
    dists: Sequence[float],
    test_images: int,
    output_csv: str,
    dae_checkpoint: str | None = None,
    sign_map: str | None = None,
    log: Log = print,
    device: torch.device | str = "cpu",
) -> pd.DataFrame:
    """Table 2's cells of one method and noise, measured at the strengths whose dist is
    exactly each of ``dists`` (found by bisection on dist, no forward pass)."""
    network, images, labels, sign = _method_under_noise(
        data_h5, method, spec, member_checkpoints, lowpass, noise, test_images, dae_checkpoint, sign_map, device
    )
    cells = errors_at_dists(
        network, images, labels, noise, dists, sign=sign, seed=settings["noise_seed"],
        batch_size=settings["batch_size"], log=log,
    )
    write_csv(cells, output_csv, float_format="%.8g")
    return cells


def lowpass_calibration(
    data_h5: str,
    checkpoint: str,
    lowpass: dict,
    test_images: int,
    output_csv: str,
    log: Log = print,
    device: torch.device | str = "cpu",
) -> pd.DataFrame:
    """Clean error of the calibration classifier behind each low-pass filter at each sigma."""
    images, labels = load_split(data_h5, "test", limit=test_images)
    # The classifier is read once; only the filter in front of it changes.
    spec = {"preprocess": "none", "members": [lowpass["calibration_model"]]}
    classifier = load_method("lowpass_calibration", spec, [checkpoint], lowpass).to(device)
    table = lowpass_clean_errors(classifier, images, labels, lowpass, lowpass["calibration_sigmas"], log=log)
    write_csv(table, output_csv, float_format="%.4g")
    return table
