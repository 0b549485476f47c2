"""The denoising autoencoder's training: Nesterov SGD on the per-pixel cross-entropy."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn
from torch.nn import functional as F

from ..nets.models import module_device
from ..progress import Log
from .solver import make_sampler, training_loop

# How the DAE is made (docs/design.md "DAE"): the network (its checkpoint's architecture)
# and the loss's normalisation. caffe_example: Caffe's examples/mnist/mnist_autoencoder
# with its Nesterov solver; SigmoidCrossEntropyLoss there sums over the pixels and divides
# by the batch size. relu_pilot: ReLU units, the cross-entropy's mean over pixels too.
DAE_RECIPES = {"caffe_example": "dae_sigmoid", "relu_pilot": "dae"}


@dataclasses.dataclass(frozen=True)
class AutoencoderSettings:
    """Nesterov-momentum SGD on the cross-entropy between reconstruction and clean image;
    ``lr_step``: Caffe's "step" policy (the rate times ``lr_gamma`` every ``lr_step``
    iterations), None for a constant rate; ``weight_decay`` on the weights, not the biases
    (Caffe's decay_mult 0 on the example's biases)."""

    seed: int = 1
    input_dropout: float = 0.2
    iterations: int = 5_000
    batch_size: int = 128
    learning_rate: float = 0.5
    momentum: float = 0.9
    log_every: int = 500
    recipe: str = "relu_pilot"
    weight_decay: float = 0.0
    lr_step: int | None = None
    lr_gamma: float = 0.1
    sample_order: str = "shuffled"

    @property
    def arch(self) -> str:
        return DAE_RECIPES[self.recipe]

    def rate_at(self, iteration: int) -> float:
        if self.lr_step is None:
            return self.learning_rate
        return self.learning_rate * self.lr_gamma ** (iteration // self.lr_step)

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.recipe == "caffe_example":
            return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / len(target)
        return F.binary_cross_entropy_with_logits(logits, target)


def train_autoencoder(
    model: nn.Module, images: torch.Tensor, spec: AutoencoderSettings, log: Log = print
) -> dict[str, float]:
    """Train a denoising autoencoder to reconstruct clean images from input-dropout-corrupted ones."""
    torch.manual_seed(spec.seed)  # input-dropout masks
    sampler = make_sampler(len(images), spec.batch_size, spec.seed, spec.sample_order)
    weights = [p for name, p in model.named_parameters() if not name.endswith("bias")]
    biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
    optimizer = torch.optim.SGD(
        [{"params": weights, "weight_decay": spec.weight_decay}, {"params": biases, "weight_decay": 0.0}],
        lr=spec.learning_rate,
        momentum=spec.momentum,
        nesterov=True,
    )
    model.train()
    device = module_device(model)
    images = images.to(device)
    flat = images.flatten(1)

    def step(iteration: int) -> tuple[torch.Tensor, float]:
        index = sampler.next_indices().to(device)
        loss = spec.loss(model.reconstruction_logits(images[index]), flat[index])
        optimizer.zero_grad()
        loss.backward()
        lr = spec.rate_at(iteration)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.step()
        return loss, lr

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
