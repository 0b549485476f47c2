"""Gaussian noise: the paper's random perturbation (a noise, not an attack: no gradient)."""

from __future__ import annotations

import torch

from .core import clip_unit


class GaussianNoise:
    """X + sigma * N(0, 1), clipped; the noise comes from the caller's seeded generator."""

    name = "gaussian"

    @staticmethod
    def perturb(x: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
        return GaussianNoise.add(x, torch.randn(x.shape, generator=generator, dtype=x.dtype), sigma)

    @staticmethod
    def add(x: torch.Tensor, noise: torch.Tensor, sigma: float) -> torch.Tensor:
        """``noise`` (standard normal, already drawn) at strength ``sigma``, clipped."""
        return clip_unit(x + sigma * noise)
