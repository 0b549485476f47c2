"""Jobs of workflow/rules/attacks.smk: a method's gradient-sign map over the test set."""

from __future__ import annotations

import torch

from ..attacks import FGSM
from ..config import attack_loss
from ..data import load_split
from ..io.checkpoints import MethodInputs
from ..io.hdf5 import save_sign_map
from ..progress import Log


def make_sign_map(
    method: MethodInputs,
    data_h5: str,
    threat: str,
    output: str,
    test_images: int,
    log: Log = print,
    device: torch.device | str = "cpu",
) -> None:
    """The FGSM gradient sign of a method over the test set (computed once, reused by all levels).

    ``threat`` says whose gradient: the whole method's (end_to_end) or its classifier's alone (oblivious).
    """
    images, labels = load_split(data_h5, "test", limit=test_images)
    sign = method_sign_map(method, threat, images, labels, device)
    log(f"{threat} sign map of {method.name} over {len(images)} test images; {int((sign == 0).sum())} zero-gradient pixels")
    members = ",".join(method.spec["members"])
    attrs = {"model": method.name, "threat": threat, "members": members, "loss": attack_loss(method.spec), "images": len(images)}
    save_sign_map(output, sign, attrs)


def method_sign_map(
    method: MethodInputs,
    threat: str,
    images: torch.Tensor,
    labels: torch.Tensor,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """The FGSM gradient sign of ``images`` under ``threat`` (whose gradient: see make_sign_map), on the CPU."""
    network = method.load(threat=threat, attacker=True).to(device)
    return FGSM().sign_map(network, images.to(device), labels.to(device)).cpu()
