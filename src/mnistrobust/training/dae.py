"""The denoising autoencoder's training: Nesterov SGD on the per-pixel cross-entropy."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError
from ..nets.models import module_device
from .solver import EpochSampler, training_loop

@dataclasses.dataclass(frozen=True)
class AutoencoderSpec:
    """Nesterov-momentum SGD on the per-pixel cross-entropy between reconstruction and clean image."""

    seed: int = 1
    input_dropout: float = 0.2
    iterations: int = 5_000
    batch_size: int = 128
    learning_rate: float = 0.5
    momentum: float = 0.9
    log_every: int = 500

    def __post_init__(self):
        if self.iterations < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ConfigError(f"DAE iterations, batch_size and learning_rate must be positive: {self}")


def train_autoencoder(
    model: nn.Module, images: torch.Tensor, spec: AutoencoderSpec, log: Callable[[str], None] = print
) -> dict[str, float]:
    """Train a denoising autoencoder to reconstruct clean images from input-dropout-corrupted ones."""
    torch.manual_seed(spec.seed)  # input-dropout masks
    sampler = EpochSampler(len(images), spec.batch_size, spec.seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=spec.learning_rate, momentum=spec.momentum, nesterov=True)
    model.train()
    device = module_device(model)
    images = images.to(device)
    flat = images.flatten(1)

    def step(_iteration: int) -> tuple[torch.Tensor, float]:
        index = sampler.next_indices().to(device)
        loss = F.binary_cross_entropy_with_logits(model.reconstruction_logits(images[index]), flat[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss, spec.learning_rate

    return training_loop(model, step, spec.iterations, spec.log_every, spec.batch_size, log)


@torch.inference_mode()
def reconstruction_error(model: nn.Module, images: torch.Tensor, corrupted: torch.Tensor | None = None) -> float:
    """Mean squared error between the clean images and the reconstruction of ``corrupted`` (default: clean)."""
    model.eval()
    source = images if corrupted is None else corrupted
    return (
        torch.cat(
            [
                (model(source[i : i + 1000]) - images[i : i + 1000]).pow(2).flatten(1)
                for i in range(0, len(images), 1000)
            ]
        )
        .mean()
        .item()
    )




def denoising_metrics(model: nn.Module, test_images: torch.Tensor) -> dict[str, float]:
    """Test MSE of the reconstruction from clean and from Gaussian-noisy (sigma 0.3) input,
    beside the noisy images' own MSE (what the DAE improves on)."""
    noisy = (test_images + 0.3 * torch.randn(test_images.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    return {
        "test_mse_clean_input": reconstruction_error(model, test_images),
        "test_mse_noisy_input": reconstruction_error(model, test_images, noisy),
        "test_mse_noisy_unreconstructed": (noisy - test_images).pow(2).mean().item(),
    }
