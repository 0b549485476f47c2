"""Jobs of workflow/rules/attacks.smk: a method's gradient-sign map over the test set."""

from __future__ import annotations

import torch

from ..attacks import FGSM
from ..data import load_split
from ..io.checkpoints import load_method
from ..io.hdf5 import save_sign_map
from ..progress import Log


def make_sign_map(
    data_h5: str,
    method: str,
    spec: dict,
    member_checkpoints: list[str],
    lowpass: dict,
    threat: str,
    output: str,
    test_images: int,
    dae_checkpoint: str | None = None,
    log: Log = print,
    device: torch.device | str = "cpu",
) -> None:
    """The FGSM gradient sign of a method over the test set (computed once, reused by all levels).

    ``threat`` says whose gradient: the whole method's (end_to_end) or its classifier's alone (oblivious).
    """
    images, labels = load_split(data_h5, "test", limit=test_images)
    sign = method_sign_map(method, spec, member_checkpoints, lowpass, threat, images, labels, dae_checkpoint, device)
    log(f"{threat} sign map of {method} over {len(images)} test images; {int((sign == 0).sum())} zero-gradient pixels")
    loss = "mean member nll" if spec.get("attack_loss") == "mean_member_loss" else "nll(log_softmax)"
    attrs = {"model": method, "threat": threat, "members": ",".join(spec["members"]), "loss": loss, "images": len(images)}
    save_sign_map(output, sign, attrs)


def method_sign_map(
    method: str,
    spec: dict,
    member_checkpoints: list[str],
    lowpass: dict,
    threat: str,
    images: torch.Tensor,
    labels: torch.Tensor,
    dae_checkpoint: str | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """The FGSM gradient sign of ``images`` under ``threat`` (whose gradient: see make_sign_map), on the CPU."""
    network = load_method(method, spec, member_checkpoints, lowpass, dae_checkpoint, threat=threat, attacker=True).to(device)
    return FGSM().sign_map(network, images.to(device), labels.to(device)).cpu()
