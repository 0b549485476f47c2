"""The field's known-good reference: LeNet trained on PGD examples (Madry et al. 2018:
L-inf eps 0.3, 40 steps of 0.01 from a random start), with a configurable budget."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from ..attacks import PGD
from ..config import PGDSettings
from ..errors import ConfigError


def pgd_perturbation(reference: Mapping, seed: int) -> Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]:
    """The ``perturb_batch`` hook of ``training.solver.train``: every batch replaced by its PGD examples."""
    if not reference["eps"] > 0:
        raise ConfigError(f"reference eps must be positive, got {reference['eps']}")
    attack = PGD(PGDSettings(steps=reference["steps"], restarts=1, step_size=reference["step_size"], random_start=True))
    generator = torch.Generator().manual_seed(seed)

    def perturb(model, batch, labels):
        return attack.examples(model, batch, labels, reference["eps"], generator)

    return perturb
