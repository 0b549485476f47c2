"""Small inputs shared by the model, attack, training and evaluation tests: seeded
LeNets and seeded random images."""

from __future__ import annotations

import torch

from mnistrobust.nets.models import LeNet


def seeded_lenet(seed: int = 0, dropout: dict | None = None) -> LeNet:
    """An untrained LeNet with the Caffe Xavier initialisation of ``seed``, in eval mode
    (``training.solver.train`` switches to train mode itself)."""
    model = LeNet(dropout)
    model.reset_parameters(seed)
    return model.eval()


def random_set(n: int = 64, seed: int = 0, low: float = 0.0, high: float = 1.0, dtype=torch.float32):
    """``n`` images uniform in [low, high) and random labels, drawn from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    images = low + (high - low) * torch.rand(n, 1, 28, 28, generator=generator, dtype=dtype)
    return images, torch.randint(0, 10, (n,), generator=generator)
