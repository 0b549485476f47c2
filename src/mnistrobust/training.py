"""Training on in-memory tensors: Caffe-style SGD for the classifiers, Nesterov SGD for the DAE."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from .checkpoints import save_checkpoint
from .data import load_split
from .errors import ConfigError
from .evaluation import clean_error
from .models import build_model


@dataclasses.dataclass(frozen=True)
class SolverSpec:
    """Caffe's lenet_solver.prototxt, which the paper's description matches."""

    iterations: int = 10_000
    batch_size: int = 64
    base_lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_gamma: float = 1e-4
    lr_power: float = 0.75
    bias_lr_mult: float = 2.0  # Caffe's LeNet gives biases twice the weights' rate
    log_every: int = 500

    def __post_init__(self):
        if self.iterations < 1 or self.batch_size < 1:
            raise ConfigError(f"iterations and batch_size must be positive: {self}")

    def learning_rate(self, iteration: int) -> float:
        """Caffe's "inv" policy: base_lr * (1 + gamma * iter) ^ (-power)."""
        return self.base_lr * (1.0 + self.lr_gamma * iteration) ** (-self.lr_power)


class CaffeSGD:
    """SGD exactly as Caffe applies it: v = m v + lr (g + wd w); w -= v."""

    def __init__(self, model: nn.Module, spec: SolverSpec):
        self.spec = spec
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.lr_mults = [spec.bias_lr_mult if p.ndim == 1 else 1.0 for p in self.params]
        self.velocity = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self, lr: float) -> None:
        grads = [p.grad for p in self.params]
        torch._foreach_add_(grads, self.params, alpha=self.spec.weight_decay)
        torch._foreach_mul_(self.velocity, self.spec.momentum)
        scaled = torch._foreach_mul(grads, [lr * m for m in self.lr_mults])
        torch._foreach_add_(self.velocity, scaled)
        torch._foreach_sub_(self.params, self.velocity)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None


class EpochSampler:
    """Reshuffles the training set every epoch from a seeded generator."""

    def __init__(self, n: int, batch_size: int, seed: int):
        if n < batch_size:
            raise ConfigError(f"training set of {n} images is smaller than one batch of {batch_size}")
        self.n, self.batch_size = n, batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(n, generator=self.generator)
        self.position = 0

    def next_indices(self) -> torch.Tensor:
        if self.position + self.batch_size > self.n:
            self.order = torch.randperm(self.n, generator=self.generator)
            self.position = 0
        batch = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return batch


def train(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    spec: SolverSpec,
    seed: int,
    log: Callable[[str], None] = print,
    start_iteration: int = 0,
    perturb_batch: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, float]:
    """Train ``model`` for ``spec.iterations`` steps; returns throughput and final loss.

    ``start_iteration`` continues the learning-rate schedule of an earlier training
    (adversarial stages resume where the previous stage stopped). ``perturb_batch``
    (model, images, labels) -> images replaces each batch before the step, e.g. by
    PGD examples for adversarial training; it is called with the model in train mode,
    and any parameter gradients it leaves are cleared before the step's backward pass.
    """
    torch.manual_seed(seed)  # dropout masks draw from the global generator
    sampler = EpochSampler(len(images), spec.batch_size, seed)
    # channels_last roughly doubles LeNet's CPU throughput (measured in bench/).
    model.to(memory_format=torch.channels_last).train()
    optimizer = CaffeSGD(model, spec)
    started = time.perf_counter()
    running_loss = 0.0
    for step in range(spec.iterations):
        index = sampler.next_indices()
        batch = images[index].contiguous(memory_format=torch.channels_last)
        if perturb_batch is not None:
            batch = perturb_batch(model, batch, labels[index]).contiguous(memory_format=torch.channels_last)
        loss = F.nll_loss(model(batch), labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step(spec.learning_rate(start_iteration + step))
        running_loss += loss.item()
        if (step + 1) % spec.log_every == 0 or step + 1 == spec.iterations:
            count = (step + 1) % spec.log_every or spec.log_every
            lr = spec.learning_rate(start_iteration + step)
            log(_progress_line(step + 1, spec.iterations, running_loss / count, lr, (step + 1) * spec.batch_size, started))
            last_loss, running_loss = running_loss / count, 0.0
    model.eval()
    elapsed = time.perf_counter() - started
    return {
        "train_seconds": elapsed,
        "images_per_second": spec.iterations * spec.batch_size / elapsed,
        "final_loss": last_loss,
    }


def _progress_line(step: int, iterations: int, loss: float, lr: float, images: int, started: float) -> str:
    return f"iteration {step}/{iterations} loss {loss:.4f} lr {lr:.5f} {images / (time.perf_counter() - started):,.0f} images/s"


def checkpoint_meta(name: str, model_spec: dict, spec, train_images: int, metrics: dict) -> dict:
    """What a checkpoint records about how it was made (``spec``: the solver dataclass)."""
    return {
        "name": name,
        "arch": model_spec["arch"],
        "dropout": dict(model_spec["dropout"]),
        "seed": model_spec["seed"],
        "solver": dataclasses.asdict(spec),
        "train_images": train_images,
        "metrics": {key: float(value) for key, value in metrics.items() if key != "train_seconds"},
    }


def train_checkpoint(
    data_h5: str,
    checkpoint: str,
    name: str,
    model_spec: dict,
    solver: dict,
    train_images: int,
    test_images: int,
    log: Callable[[str], None] = print,
) -> dict[str, float]:
    """Train the configured network ``name`` and save it with its spec, seed and clean error."""
    images, labels = load_split(data_h5, "train", limit=train_images)
    test_x, test_y = load_split(data_h5, "test", limit=test_images)
    spec = SolverSpec(**{**solver, "iterations": model_spec["iterations"]})
    model = build_model(model_spec["arch"], model_spec["dropout"])
    model.reset_parameters(model_spec["seed"])
    log(f"training {name}: {model_spec}, {len(images)} images, {spec}")
    metrics = train(model, images, labels, spec, seed=model_spec["seed"], log=log)
    metrics["clean_test_error"] = clean_error(model, test_x, test_y)
    metrics["test_images"] = len(test_x)
    log(f"{name}: clean test error {100 * metrics['clean_test_error']:.2f}% on {len(test_x)} images")
    meta = checkpoint_meta(name, model_spec, spec, len(images), metrics)
    save_checkpoint(checkpoint, model.to(memory_format=torch.contiguous_format), meta)
    return metrics


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
    flat = images.flatten(1)
    started, running_loss = time.perf_counter(), 0.0
    for step in range(spec.iterations):
        index = sampler.next_indices()
        loss = F.binary_cross_entropy_with_logits(model.reconstruction_logits(images[index]), flat[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
        if (step + 1) % spec.log_every == 0 or step + 1 == spec.iterations:
            count = (step + 1) % spec.log_every or spec.log_every
            log(_progress_line(step + 1, spec.iterations, running_loss / count, spec.learning_rate, (step + 1) * spec.batch_size, started))
            last_loss, running_loss = running_loss / count, 0.0
    model.eval()
    elapsed = time.perf_counter() - started
    return {"train_seconds": elapsed, "images_per_second": spec.iterations * spec.batch_size / elapsed, "final_loss": last_loss}


@torch.inference_mode()
def reconstruction_error(model: nn.Module, images: torch.Tensor, corrupted: torch.Tensor | None = None) -> float:
    """Mean squared error between the clean images and the reconstruction of ``corrupted`` (default: clean)."""
    model.eval()
    source = images if corrupted is None else corrupted
    return torch.cat([(model(source[i : i + 1000]) - images[i : i + 1000]).pow(2).flatten(1) for i in range(0, len(images), 1000)]).mean().item()


def train_dae_checkpoint(
    data_h5: str,
    checkpoint: str,
    settings: dict,
    train_images: int,
    test_images: int,
    log: Callable[[str], None] = print,
) -> dict[str, float]:
    """Train the DAE of DESIGN.md and save it with its settings and test reconstruction errors."""
    spec = AutoencoderSpec(**settings)
    images, _ = load_split(data_h5, "train", limit=train_images)
    test_x, _ = load_split(data_h5, "test", limit=test_images)
    model = build_model("dae", {"input": spec.input_dropout})
    model.reset_parameters(spec.seed)
    log(f"training the DAE: {spec}, {len(images)} images")
    metrics = train_autoencoder(model, images, spec, log=log)
    noisy = (test_x + 0.3 * torch.randn(test_x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    metrics["test_mse_clean_input"] = reconstruction_error(model, test_x)
    metrics["test_mse_noisy_input"] = reconstruction_error(model, test_x, noisy)
    metrics["test_mse_noisy_unreconstructed"] = (noisy - test_x).pow(2).mean().item()
    log(
        "DAE test MSE: clean input {test_mse_clean_input:.4f}; Gaussian sigma 0.3 input {test_mse_noisy_input:.4f} "
        "(the noisy images themselves: {test_mse_noisy_unreconstructed:.4f})".format(**metrics)
    )
    model_spec = {"arch": "dae", "dropout": {"input": spec.input_dropout}, "seed": spec.seed}
    meta = checkpoint_meta("dae", model_spec, spec, len(images), metrics)
    save_checkpoint(checkpoint, model, meta)
    return metrics
