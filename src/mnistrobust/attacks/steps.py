"""The L-inf step every gradient attack takes (PGD, EOT-PGD, BPDA-PGD, and the examples of
fast adversarial training), and the loop that repeats it, in the manner of MadryLab's
``robustness`` (``attack_steps.py`` under ``attacker.py``).

Every example stays in [0, 1]; random starts draw on the CPU from the caller's generator,
so a seed repeats on any device.
"""

from __future__ import annotations

import torch
from torch import nn

from .core import clip_unit, input_gradient, project, random_start


class LinfStep:
    """The threat model around ``clean``: the L-inf ball of radius ``eps`` (a float, or
    per-row radii of shape rows x 1 x 1 x 1) inside [0, 1], and a signed-gradient step of
    ``step_size`` (a float, or per-row sizes).

    ``start_radius``: the radius of the random start, ``eps`` unless given (N-FGSM starts
    from a larger ball). ``in_ball=False`` only clips to [0, 1] after a step (N-FGSM: its
    larger noise is what prevents the collapse, and projecting would undo it).
    """

    def __init__(self, clean: torch.Tensor, eps, step_size, start_radius=None, in_ball: bool = True):
        self.clean, self.eps, self.step_size = clean, eps, step_size
        self.start_radius = eps if start_radius is None else start_radius
        self.in_ball = in_ball

    def random_start(self, generator: torch.Generator) -> torch.Tensor:
        """A uniform point of the start ball, clipped to [0, 1]."""
        return random_start(self.clean, self.start_radius, generator)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        return project(x, self.clean, self.eps) if self.in_ball else clip_unit(x)

    def step(self, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """One signed-gradient ascent step of the loss, projected."""
        return self.project(x + self.step_size * grad.sign())

    def __getitem__(self, keep: torch.Tensor) -> LinfStep:
        """The rows ``keep`` marks (a chunk's rows that stay in the batch)."""

        def rows(value):
            return value[keep] if isinstance(value, torch.Tensor) and value.dim() > 0 else value

        return LinfStep(rows(self.clean), rows(self.eps), rows(self.step_size), rows(self.start_radius), self.in_ball)


def ascend(
    model: nn.Module, step: LinfStep, start: torch.Tensor, labels: torch.Tensor, steps: int, eot_samples: int = 1
) -> torch.Tensor:
    """``steps`` steps from ``start`` up the NLL of ``labels`` (summed over ``eot_samples``
    noise draws per step for a random defense), in the model's current mode."""
    current = start
    for _ in range(steps):
        grad, _ = input_gradient(model, current, labels, eot_samples, channels_last=True)
        current = step.step(current, grad)
    return current
