"""Jobs of workflow/rules/evaluation.smk: one method's error-versus-dist sweep, its Table 2
cells measured at exact distortions, and the low-pass filters' clean errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import torch

from ..config import ATTACK_THREAT, noise_kind
from ..data import load_split
from ..errors import ConfigError
from ..evaluation.sweeps import errors_at_dists, lowpass_clean_errors, noise_strengths, sweep
from ..io.checkpoints import MethodInputs
from ..io.hdf5 import load_sign_map
from ..io.storage import write_csv
from ..progress import Log
from .attacks import method_sign_map


def method_and_test_images(
    method: MethodInputs, data_h5: str, test_images: int, device: torch.device | str
) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """The method's network (as it classifies) on ``device``, and the first ``test_images``
    test images and labels (on the CPU)."""
    network = method.load().to(device)
    images, labels = load_split(data_h5, "test", limit=test_images)
    return network, images, labels


@dataclass(frozen=True)
class NoiseJob:
    """What a sweep and a Table 2 cell job read: one method, its first ``test_images`` test
    images under one noise with the ``evaluation`` settings, and the sign map an fgsm noise
    needs (None: computed in the job)."""

    method: MethodInputs
    data_h5: str
    noise: str
    settings: Mapping
    test_images: int
    sign_map: str | None = None
    device: torch.device | str = "cpu"

    def prepared(self) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The method's network, the test images and labels, and the noise's sign map: read
        from ``sign_map``, or computed here when no file is given (a replicate without
        curves, where nothing else reads it: one job's start-up less per cell)."""
        network, images, labels = method_and_test_images(self.method, self.data_h5, self.test_images, self.device)
        if noise_kind(self.noise) != "fgsm":
            return network, images, labels, None
        threat = ATTACK_THREAT[self.noise]
        if self.sign_map is None:
            return network, images, labels, method_sign_map(self.method, threat, images, labels, self.device)
        expect = {"model": self.method.name, "threat": threat, "images": len(images)}
        sign, _ = load_sign_map(self.sign_map, expect=expect)
        return network, images, labels, sign


def run_sweep(job: NoiseJob, output_csv: str, log: Log = print) -> pd.DataFrame:
    """Sweep one method with one noise type and write the tidy curve CSV."""
    kind, name, settings = noise_kind(job.noise), job.method.name, job.settings
    network, images, labels, sign = job.prepared()
    strengths = noise_strengths(settings["max_strength"][kind], settings["levels"])
    curve = sweep(
        network, images, labels, job.noise, strengths, sign=sign, seed=settings["noise_seed"],
        batch_size=settings["batch_size"], log=log,
    )
    largest = curve["dist"].max()
    if largest < settings["min_max_dist"]:
        raise ConfigError(
            f"{job.noise} sweep of {name} reaches dist {largest:.3f} only, below min_max_dist "
            f"{settings['min_max_dist']}; raise evaluation.max_strength.{kind}"
        )
    curve.insert(0, "noise", job.noise)
    curve.insert(0, "model", name)
    write_csv(curve, output_csv, float_format="%.6g")
    log(
        f"{name} {job.noise}: dist 0..{largest:.3f}, error {100 * curve['error'].iloc[0]:.2f}% .. "
        f"{100 * curve['error'].iloc[-1]:.2f}%"
    )
    return curve


def run_table2_cells(job: NoiseJob, dists: Sequence[float], output_csv: str, log: Log = print) -> pd.DataFrame:
    """Table 2's cells of one method and noise, measured at the strengths whose dist is
    exactly each of ``dists`` (found by bisection on dist, no forward pass)."""
    network, images, labels, sign = job.prepared()
    cells = errors_at_dists(
        network, images, labels, job.noise, dists, sign=sign, seed=job.settings["noise_seed"],
        batch_size=job.settings["batch_size"], log=log,
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
    classifier = MethodInputs("lowpass_calibration", spec, (checkpoint,), lowpass).load().to(device)
    table = lowpass_clean_errors(classifier, images, labels, lowpass, lowpass["calibration_sigmas"], log=log)
    write_csv(table, output_csv, float_format="%.4g")
    return table
