"""Jobs of workflow/rules/evaluation.smk: one method's error-versus-dist sweep, and the
low-pass filters' clean errors."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch

from ..config import ATTACK_THREAT, noise_kind
from ..data import load_split
from ..errors import ConfigError
from ..evaluation.sweeps import lowpass_clean_errors, noise_strengths, sweep
from ..io.checkpoints import load_method
from ..io.hdf5 import load_sign_map
from ..io.storage import write_csv
from ..progress import Log


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
    network = load_method(method, spec, member_checkpoints, lowpass, dae_checkpoint).to(device)
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
    write_csv(curve, output_csv, float_format="%.6g")
    log(f"{method} {noise}: dist 0..{largest:.3f}, error {100 * curve['error'].iloc[0]:.2f}% .. {100 * curve['error'].iloc[-1]:.2f}%")
    return curve


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
