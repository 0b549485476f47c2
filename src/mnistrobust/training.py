"""Training on in-memory tensors: Caffe-style SGD for the classifiers, Nesterov SGD for the DAE."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from .checkpoints import load_model, save_checkpoint
from .data import load_split
from .errors import CheckpointError, ConfigError
from .evaluation import clean_error
from .models import LeNetGroup, build_model
from .naming import check_training_groups


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

    The model trains where its parameters are (CPU or CUDA); ``images``/``labels`` may
    live elsewhere and are moved once. ``start_iteration`` continues the learning-rate
    schedule of an earlier training (adversarial stages resume where the previous stage
    stopped). ``perturb_batch`` (model, images, labels) -> images replaces each batch
    before the step, e.g. by PGD examples for adversarial training; it is called with
    the model in train mode, and any parameter gradients it leaves are cleared before
    the step's backward pass.
    """
    torch.manual_seed(seed)  # dropout masks draw from the global generator
    device = _parameter_device(model)
    images, labels = images.to(device), labels.to(device)
    sampler = EpochSampler(len(images), spec.batch_size, seed)

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
    spec: SolverSpec,
    seeds: list[int],
    log: Callable[[str], None] = print,
) -> dict[str, float]:
    """Train the K members of ``group`` at once, member k drawing its batches from ``seeds[k]``
    exactly as :func:`train` would; the loss is the sum of the members' mean losses, so
    each member gets the gradient it would get alone."""
    if len(seeds) != group.size:
        raise ConfigError(f"a group of {group.size} networks needs {group.size} seeds, got {len(seeds)}")
    torch.manual_seed(seeds[0])  # dropout masks draw from the global generator
    device = _parameter_device(group)
    images, labels = images.to(device), labels.to(device)
    samplers = [EpochSampler(len(images), spec.batch_size, seed) for seed in seeds]

    def next_batch() -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.stack([sampler.next_indices() for sampler in samplers], dim=1).to(device)  # B, K
        batch = images[index].squeeze(2)  # B, K, 28, 28: member k's images in channel k
        return batch.contiguous(memory_format=torch.channels_last), labels[index].T  # labels: K, B

    return _caffe_sgd_loop(group, spec, next_batch, spec.batch_size * group.size, log, 0, members=group.size)


def _parameter_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _caffe_sgd_loop(
    model: nn.Module,
    spec: SolverSpec,
    next_batch: Callable[[], tuple[torch.Tensor, torch.Tensor]],
    images_per_step: int,
    log: Callable[[str], None],
    start_iteration: int,
    members: int = 1,
) -> dict[str, float]:
    """The training loop shared by single networks and groups: NLL summed over the leading
    output dimensions except the batch, Caffe SGD with the inv schedule, progress lines
    (with the loss per member)."""
    # channels_last roughly doubles LeNet's CPU throughput (measured in bench/).
    model.to(memory_format=torch.channels_last).train()
    optimizer = CaffeSGD(model, spec)
    started = time.perf_counter()
    # Summed on the device and read at log points only: .item() every step would stall a GPU.
    running_loss = torch.zeros((), device=_parameter_device(model))
    for step in range(spec.iterations):
        batch, batch_labels = next_batch()
        log_probs = model(batch)
        # Summed over members, averaged over the batch: each member's gradient is its own mean loss's.
        loss = F.nll_loss(log_probs.flatten(0, -2), batch_labels.flatten(), reduction="sum") / batch_labels.shape[-1]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step(spec.learning_rate(start_iteration + step))
        running_loss += loss.detach()
        if (step + 1) % spec.log_every == 0 or step + 1 == spec.iterations:
            count = (step + 1) % spec.log_every or spec.log_every
            lr = spec.learning_rate(start_iteration + step)
            last_loss = running_loss.item() / count / members
            log(_progress_line(step + 1, spec.iterations, last_loss, lr, (step + 1) * images_per_step, started))
            running_loss.zero_()
    model.eval()
    elapsed = time.perf_counter() - started
    return {
        "train_seconds": elapsed,
        "images_per_second": spec.iterations * images_per_step / elapsed,
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
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Train the configured network ``name`` and save it with its spec, seed and clean error."""
    images, labels = load_split(data_h5, "train", limit=train_images)
    test_x, test_y = load_split(data_h5, "test", limit=test_images)
    spec = SolverSpec(**{**solver, "iterations": model_spec["iterations"]})
    model = build_model(model_spec["arch"], model_spec["dropout"])
    model.reset_parameters(model_spec["seed"])
    log(f"training {name} on {device}: {model_spec}, {len(images)} images, {spec}")
    metrics = train(model.to(device), images, labels, spec, seed=model_spec["seed"], log=log)
    return _save_trained(checkpoint, name, model_spec, spec, model.cpu(), metrics, len(images), test_x, test_y, log)


def _save_trained(
    checkpoint: str,
    name: str,
    model_spec: dict,
    spec: SolverSpec,
    model: nn.Module,
    metrics: dict,
    train_images: int,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    log: Callable[[str], None],
    **extra_meta,
) -> dict[str, float]:
    """Measure a trained classifier's clean test error and save it with how it was made."""
    metrics = {**metrics, "clean_test_error": clean_error(model, test_x, test_y), "test_images": len(test_x)}
    log(f"{name}: clean test error {100 * metrics['clean_test_error']:.2f}% on {len(test_x)} images")
    meta = {**checkpoint_meta(name, model_spec, spec, train_images, metrics), **extra_meta}
    save_checkpoint(checkpoint, model.to(memory_format=torch.contiguous_format), meta)
    return metrics


def train_group_checkpoints(
    data_h5: str,
    checkpoints: Mapping[str, str],
    model_specs: Mapping[str, dict],
    solver: dict,
    train_images: int,
    test_images: int,
    log: Callable[[str], None] = print,
    device: torch.device | str = "cpu",
) -> dict[str, dict[str, float]]:
    """Train the networks ``checkpoints`` names (LeNets differing only in seed) in one job and
    save each as the same checkpoint :func:`train_checkpoint` writes; returns each one's metrics.

    On CUDA they train at once as one :class:`LeNetGroup` (many small models fill a GPU
    that one batch-64 LeNet leaves idle). On the CPU they train one after another with
    :func:`train`, exactly as ``train_model`` would (bit-identical checkpoints): there the
    grouped kernels were measured slower than one model at a time (README, Speed). There
    the job takes many minutes, so each member is kept as it finishes (see
    :func:`unfinished_member_path`) and a rerun of an interrupted job trains only the rest.
    """
    names = list(checkpoints)
    check_training_groups({"group": names}, model_specs)
    specs = [model_specs[name] for name in names]
    images, labels = load_split(data_h5, "train", limit=train_images)
    test_x, test_y = load_split(data_h5, "test", limit=test_images)
    spec = SolverSpec(**{**solver, "iterations": specs[0]["iterations"]})
    members = []
    for model_spec in specs:
        member = build_model("lenet", model_spec["dropout"])
        member.reset_parameters(model_spec["seed"])
        members.append(member)
    grouped = torch.device(device).type == "cuda"
    how = "as one grouped network" if grouped else "one after another"
    log(f"training {len(names)} networks {how} on {device}: {names}, {len(images)} images, {spec}")
    group_meta = {"trained_in_group_of": len(names), "trained_as_grouped_network": grouped}
    if grouped:
        group = LeNetGroup(members).to(device)
        group_metrics = train_group(group, images, labels, spec, [s["seed"] for s in specs], log=log)
        for member, state in zip(members, group.member_state_dicts()):
            member.load_state_dict(state)
        return {
            name: _save_trained(checkpoints[name], name, model_spec, spec, member, group_metrics, len(images), test_x, test_y, log, **group_meta)
            for name, model_spec, member in zip(names, specs, members)
        }
    results = {}
    kept_paths = {name: unfinished_member_path(checkpoints[name]) for name in names}
    for name, model_spec, member in zip(names, specs, members):
        kept = kept_paths[name]
        meta = {**checkpoint_meta(name, model_spec, spec, len(images), {}), **group_meta}
        expected = {key: value for key, value in meta.items() if key != "metrics"}
        earlier = _member_kept_earlier(kept, expected, log)
        if earlier is not None:
            log(f"{name}: kept from an interrupted run of this job ({kept}), not trained again")
            results[name] = earlier
            continue
        log(f"training {name}")
        metrics = train(member, images, labels, spec, seed=model_spec["seed"], log=log)
        results[name] = _save_trained(str(kept), name, model_spec, spec, member, metrics, len(images), test_x, test_y, log, **group_meta)
    for name, kept in kept_paths.items():
        os.replace(kept, checkpoints[name])
    try:
        kept_paths[names[0]].parent.rmdir()
    except OSError:  # another group's members are still kept there
        pass
    return results


def unfinished_member_path(checkpoint: str) -> Path:
    """Where a group job keeps a member it has finished before the whole job has: beside the
    job's outputs but not one of them, so that Snakemake, which deletes the outputs of an
    interrupted job before rerunning it, leaves it there. Moved to ``checkpoint`` at the end."""
    path = Path(checkpoint)
    return path.parent / "unfinished" / path.name


def _member_kept_earlier(path: Path, expected: dict, log: Callable[[str], None]) -> dict | None:
    """The metrics of a member an interrupted run kept at ``path``, if it was made exactly as
    this run would make it (same name, seed, dropout, solver, data size); else None."""
    if not path.exists():
        return None
    try:
        _, meta = load_model(path)
    except CheckpointError as exc:
        log(f"not reusing {path}: {exc}")
        return None
    recorded = {key: meta.get(key) for key in expected}
    if recorded != expected:
        differing = sorted(key for key in expected if recorded[key] != expected[key])
        log(f"not reusing {path}: its {', '.join(differing)} differ from this job's")
        return None
    return meta["metrics"]


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
    device = _parameter_device(model)
    images = images.to(device)
    flat = images.flatten(1)
    started, running_loss = time.perf_counter(), torch.zeros((), device=device)
    for step in range(spec.iterations):
        index = sampler.next_indices().to(device)
        loss = F.binary_cross_entropy_with_logits(model.reconstruction_logits(images[index]), flat[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        running_loss += loss.detach()
        if (step + 1) % spec.log_every == 0 or step + 1 == spec.iterations:
            count = (step + 1) % spec.log_every or spec.log_every
            last_loss = running_loss.item() / count
            images_seen = (step + 1) * spec.batch_size
            log(_progress_line(step + 1, spec.iterations, last_loss, spec.learning_rate, images_seen, started))
            running_loss.zero_()
    model.eval()
    elapsed = time.perf_counter() - started
    return {
        "train_seconds": elapsed,
        "images_per_second": spec.iterations * spec.batch_size / elapsed,
        "final_loss": last_loss,
    }


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


def train_dae_checkpoint(
    data_h5: str,
    checkpoint: str,
    settings: dict,
    train_images: int,
    test_images: int,
    log: Callable[[str], None] = print,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Train the DAE of DESIGN.md and save it with its settings and test reconstruction errors."""
    spec = AutoencoderSpec(**settings)
    images, _ = load_split(data_h5, "train", limit=train_images)
    test_x, _ = load_split(data_h5, "test", limit=test_images)
    model = build_model("dae", {"input": spec.input_dropout})
    model.reset_parameters(spec.seed)
    log(f"training the DAE on {device}: {spec}, {len(images)} images")
    metrics = train_autoencoder(model.to(device), images, spec, log=log)
    model.cpu()
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
