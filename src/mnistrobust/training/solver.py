"""Caffe-style SGD on in-memory tensors: the solver, the epoch sampler, and the training
loop shared by single networks and groups of LeNets trained as one network."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError
from ..nets.models import LeNetGroup, module_device
from ..progress import Log, Progress

@dataclasses.dataclass(frozen=True)
class SolverSettings:
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

    def learning_rate(self, iteration: int) -> float:
        """Caffe's "inv" policy: base_lr * (1 + gamma * iter) ^ (-power)."""
        return self.base_lr * (1.0 + self.lr_gamma * iteration) ** (-self.lr_power)


class CaffeSGD:
    """SGD exactly as Caffe applies it: v = m v + lr (g + wd w); w -= v."""

    def __init__(self, model: nn.Module, spec: SolverSettings):
        self.spec = spec
        named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
        self.params = [p for _, p in named]
        # "conv1.bias" in a LeNet, "conv1_bias" in a LeNetGroup
        self.lr_mults = [spec.bias_lr_mult if name.endswith("bias") else 1.0 for name, _ in named]
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


# How a training draws its batches from its training set: "shuffled" reshuffles it every
# epoch from the model's seed; "database" reads it as Caffe's Data layer reads an LMDB, in
# its stored order, so that every network trained on that set sees the same batches.
SAMPLE_ORDERS = ("shuffled", "database")


class DatabaseSampler:
    """Caffe's Data layer: the images in their stored order, batch after batch, wrapping round
    at the end of the set (a batch may span it); no seed."""

    def __init__(self, n: int, batch_size: int):
        if n < batch_size:
            raise ConfigError(f"training set of {n} images is smaller than one batch of {batch_size}")
        self.n, self.batch_size, self.position = n, batch_size, 0

    def next_indices(self) -> torch.Tensor:
        batch = torch.arange(self.position, self.position + self.batch_size) % self.n
        self.position = (self.position + self.batch_size) % self.n
        return batch


def make_sampler(n: int, batch_size: int, seed: int, order: str = "shuffled") -> "EpochSampler | DatabaseSampler":
    """The batch order ``order`` (one of :data:`SAMPLE_ORDERS`) over a training set of ``n``."""
    if order not in SAMPLE_ORDERS:
        raise ConfigError(f"unknown sample order {order!r}; known: {list(SAMPLE_ORDERS)}")
    return DatabaseSampler(n, batch_size) if order == "database" else EpochSampler(n, batch_size, seed)


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
    spec: SolverSettings,
    seed: int,
    log: Log = print,
    start_iteration: int = 0,
    sample_seed: int | None = None,
    perturb_batch: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    sample_order: str = "shuffled",
) -> dict[str, float]:
    """Train ``model`` for ``spec.iterations`` steps; returns throughput and final loss.

    The model trains where its parameters are (CPU or CUDA); ``images``/``labels`` may
    live elsewhere and are moved once. ``start_iteration`` continues the learning-rate
    schedule of an earlier training (adversarial stages resume where the previous stage
    stopped). ``perturb_batch`` (model, images, labels) -> images replaces each batch
    before the step, e.g. by PGD examples for adversarial training; it is called with
    the model in train mode, and any parameter gradients it leaves are cleared before
    the step's backward pass. ``sample_seed`` draws the batch order (default ``seed``):
    networks that differ only in ``seed`` then see the same batches, as Caffe's networks
    reading one database in its fixed order do; ``sample_order`` "database" reads the set
    in its stored order (:data:`SAMPLE_ORDERS`), whatever the seeds.
    """
    torch.manual_seed(seed)  # dropout masks draw from the global generator
    device = module_device(model)
    images, labels = images.to(device), labels.to(device)
    sampler = make_sampler(len(images), spec.batch_size, seed if sample_seed is None else sample_seed, sample_order)

    def next_batch() -> tuple[torch.Tensor, torch.Tensor]:
        index = sampler.next_indices().to(device)
        batch, batch_labels = images[index].contiguous(memory_format=torch.channels_last), labels[index]
        if perturb_batch is not None:
            batch = perturb_batch(model, batch, batch_labels).contiguous(memory_format=torch.channels_last)
        return batch, batch_labels

    return _caffe_sgd_loop(model, spec, next_batch, spec.batch_size, log, start_iteration)


def train_group(
    group: LeNetGroup,
    images: torch.Tensor,
    labels: torch.Tensor,
    spec: SolverSettings,
    seeds: list[int],
    log: Log = print,
    sample_seeds: list[int] | None = None,
    sample_order: str = "shuffled",
) -> dict[str, float]:
    """Train the K members of ``group`` at once, member k drawing its batches from
    ``sample_seeds[k]`` (default ``seeds[k]``) in ``sample_order`` exactly as :func:`train` would; the loss is the
    sum of the members' mean losses, so each member gets the gradient it would get alone."""
    sample_seeds = seeds if sample_seeds is None else sample_seeds
    if len(seeds) != group.size or len(sample_seeds) != group.size:
        raise ConfigError(f"a group of {group.size} networks needs {group.size} seeds, got {len(seeds)}")
    torch.manual_seed(seeds[0])  # dropout masks draw from the global generator
    device = module_device(group)
    images, labels = images.to(device), labels.to(device)
    samplers = [make_sampler(len(images), spec.batch_size, seed, sample_order) for seed in sample_seeds]

    def next_batch() -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.stack([sampler.next_indices() for sampler in samplers], dim=1).to(device)  # B, K
        batch = images[index].squeeze(2)  # B, K, 28, 28: member k's images in channel k
        return batch.contiguous(memory_format=torch.channels_last), labels[index].T  # labels: K, B

    return _caffe_sgd_loop(group, spec, next_batch, spec.batch_size * group.size, log, 0, members=group.size)


def _caffe_sgd_loop(
    model: nn.Module,
    spec: SolverSettings,
    next_batch: Callable[[], tuple[torch.Tensor, torch.Tensor]],
    images_per_step: int,
    log: Log,
    start_iteration: int,
    members: int = 1,
) -> dict[str, float]:
    """The training loop shared by single networks and groups: NLL summed over the leading
    output dimensions except the batch, Caffe SGD with the inv schedule, progress lines
    (with the loss per member)."""
    # channels_last roughly doubles LeNet's CPU throughput (measured in bench/).
    model.to(memory_format=torch.channels_last).train()
    optimizer = CaffeSGD(model, spec)

    def step(iteration: int) -> tuple[torch.Tensor, float]:
        batch, batch_labels = next_batch()
        log_probs = model(batch)
        # Summed over members, averaged over the batch: each member's gradient is its own mean loss's.
        loss = F.nll_loss(log_probs.flatten(0, -2), batch_labels.flatten(), reduction="sum") / batch_labels.shape[-1]
        optimizer.zero_grad()
        loss.backward()
        lr = spec.learning_rate(start_iteration + iteration)
        optimizer.step(lr)
        return loss, lr

    return training_loop(model, step, spec.iterations, spec.log_every, images_per_step, log, members)


def training_loop(
    model: nn.Module,
    step: Callable[[int], tuple[torch.Tensor, float]],
    iterations: int,
    log_every: int,
    images_per_step: int,
    log: Log,
    members: int = 1,
) -> dict[str, float]:
    """Run ``step`` (iteration -> its loss and learning rate) ``iterations`` times, with a
    progress line (mean loss per member since the last one, learning rate, throughput) every
    ``log_every`` iterations and at the end; leaves ``model`` in eval mode and returns the
    throughput and the final loss. Shared by the classifiers' and the DAE's training."""
    started = time.perf_counter()
    progress = Progress("iteration", iterations, log)
    # Summed on the device and read at log points only: .item() every step would stall a GPU.
    running_loss = torch.zeros((), device=module_device(model))
    for iteration in range(iterations):
        loss, lr = step(iteration)
        running_loss += loss.detach()
        if (iteration + 1) % log_every == 0 or iteration + 1 == iterations:
            count = (iteration + 1) % log_every or log_every
            last_loss = running_loss.item() / count / members
            note = training_note(last_loss, lr, (iteration + 1) * images_per_step, started)
            progress.update(iteration + 1, note, force=True)
            running_loss.zero_()
        else:
            progress.update(iteration + 1)  # a line every few seconds when steps are slow (PGD training)
    model.eval()
    elapsed = time.perf_counter() - started
    return {
        "train_seconds": elapsed,
        "images_per_second": iterations * images_per_step / elapsed,
        "final_loss": last_loss,
    }


def training_note(loss: float, lr: float, images: int, started: float) -> str:
    """What a training progress line adds at a log point: loss, learning rate, throughput."""
    return f"loss {loss:.4f} lr {lr:.5f} {images / (time.perf_counter() - started):,.0f} images/s"


def checkpoint_meta(name: str, model_spec: dict, spec, train_images: int, metrics: dict) -> dict:
    """What a checkpoint records about how it was made (``spec``: the solver dataclass); the
    dropout placement and the batch order (its seed, a database order) where the model spec names them."""
    optional = {key: model_spec[key] for key in ("dropout_placement", "sample_seed", "sample_order") if key in model_spec}
    return {
        "name": name,
        "arch": model_spec["arch"],
        "dropout": dict(model_spec["dropout"]),
        **optional,
        "seed": model_spec["seed"],
        "solver": dataclasses.asdict(spec),
        "train_images": train_images,
        "metrics": {key: float(value) for key, value in metrics.items() if key != "train_seconds"},
    }


