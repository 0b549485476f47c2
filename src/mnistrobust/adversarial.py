"""Adversarial training in stages (Section 3, "Adversarial Committee").

Stage k (k = 1..N) takes the model of stage k-1 (stage 0 is the base LeNet), makes
Eq. 3 examples of the whole training set with it (the *pool* of stage k, stored in
HDF5), and trains on for a fixed number of iterations on the natural training set
joined with the pools of stages 1..k. Every stage's model is saved; all of them
together with the base model form the adversarial committee.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

import h5py
import numpy as np
import torch

from .attacks import eq3_examples
from .checkpoints import load_model, save_checkpoint
from .data import load_split
from .errors import ConfigError, DataError
from .evaluation import clean_error
from .models import module_device
from .naming import stage_model_name
from .storage import atomic_path, check_attrs, read_hdf5
from .training import SolverSpec, checkpoint_meta, train

POOL_FORMAT = "mnistrobust-adversarial-pool/1"


@torch.no_grad()
def generate_pool(
    model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float, c: float, batch_size: int = 1000
) -> torch.Tensor:
    """Eq. 3 examples of every image, from ``model``'s own gradients (on the model's device)."""
    model.eval().to(memory_format=torch.channels_last)
    device = module_device(model)
    return torch.cat(
        [
            eq3_examples(model, images[i : i + batch_size].to(device), labels[i : i + batch_size].to(device), eps, c).cpu()
            for i in range(0, len(images), batch_size)
        ]
    )


def save_pool(path: str | os.PathLike, examples: torch.Tensor, labels: torch.Tensor, attrs: dict[str, Any]) -> None:
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as handle:
        chunks = (min(1000, len(examples)), *examples.shape[1:])
        handle.create_dataset("images", data=examples.numpy().astype(np.float32), compression="lzf", chunks=chunks)
        handle.create_dataset("labels", data=labels.numpy().astype(np.uint8))
        handle.attrs.update({"format": POOL_FORMAT, **attrs})


def load_pool(path: str | os.PathLike, expect: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Read a pool, checking that its attributes (stage, eps, c, source model, ...) are the expected ones."""
    arrays, attrs = read_hdf5(
        path, ["images", "labels"], "adversarial pool", hint="made by the adversarial_pool rule", file_format=POOL_FORMAT
    )
    check_attrs(path, "adversarial pool", attrs, expect)
    images, labels = torch.from_numpy(arrays["images"]), torch.from_numpy(arrays["labels"].astype(np.int64))
    if images.ndim != 4 or len(images) != len(labels):
        raise DataError(f"adversarial pool {path} holds images {tuple(images.shape)} and {len(labels)} labels")
    return images, labels


@dataclasses.dataclass(frozen=True)
class AdversarialSpec:
    base_model: str
    stages: int
    iterations_per_stage: int
    eps: float
    c: float
    batch_size: int = 1000  # pool generation only

    def pool_attrs(self, stage: int) -> dict[str, Any]:
        return {"stage": stage, "eps": float(self.eps), "c": float(self.c), "source_model": stage_model_name(stage - 1, self.base_model)}

    def check_stage(self, stage: int) -> None:
        if not 1 <= stage <= self.stages:
            raise ConfigError(f"adversarial stage {stage} does not exist; stages are 1..{self.stages}")


def make_pool(
    data_h5: str,
    checkpoint: str,
    output: str,
    stage: int,
    settings: dict,
    train_images: int,
    log: Callable[[str], None] = print,
    device: torch.device | str = "cpu",
) -> None:
    """The pool of ``stage``: Eq. 3 examples of the training set from the model of stage - 1."""
    spec = AdversarialSpec(**settings)
    spec.check_stage(stage)
    model, meta = load_model(checkpoint)
    source = stage_model_name(stage - 1, spec.base_model)
    if meta.get("name") != source:
        raise DataError(f"checkpoint {checkpoint} holds model {meta.get('name')!r}; stage {stage} needs {source!r}")
    images, labels = load_split(data_h5, "train", limit=train_images)
    examples = generate_pool(model.to(device), images, labels, spec.eps, spec.c, spec.batch_size)
    change = (examples - images).abs().mean().item()
    error = clean_error(model, examples, labels)
    log(f"stage {stage} pool from {source}: {len(examples)} examples, dist {change:.3f}, source model's error on them {100 * error:.2f}%")
    save_pool(output, examples, labels, {**spec.pool_attrs(stage), "source_checkpoint": str(checkpoint), "dist": change, "source_error": error})


def train_stage(
    data_h5: str,
    previous_checkpoint: str,
    pool_paths: Sequence[str],
    output: str,
    stage: int,
    settings: dict,
    solver: dict,
    base_iterations: int,
    train_images: int,
    test_images: int,
    log: Callable[[str], None] = print,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Continue the model of stage - 1 on the natural set joined with the pools of stages 1..stage."""
    spec = AdversarialSpec(**settings)
    spec.check_stage(stage)
    if len(pool_paths) != stage:
        raise ConfigError(f"stage {stage} trains on the pools of stages 1..{stage}; got {len(pool_paths)} pool(s)")
    model, meta = load_model(previous_checkpoint)
    previous = stage_model_name(stage - 1, spec.base_model)
    if meta.get("name") != previous:
        raise DataError(f"checkpoint {previous_checkpoint} holds model {meta.get('name')!r}; stage {stage} continues {previous!r}")
    images, labels = load_split(data_h5, "train", limit=train_images)
    parts, part_labels = [images], [labels]
    for pool_stage, path in enumerate(pool_paths, start=1):
        pool, pool_labels = load_pool(path, spec.pool_attrs(pool_stage))
        if len(pool) != len(images):
            raise DataError(f"adversarial pool {path} holds {len(pool)} examples, the training set {len(images)}")
        parts.append(pool)
        part_labels.append(pool_labels)
    images, labels = torch.cat(parts), torch.cat(part_labels)
    solver_spec = SolverSpec(**{**solver, "iterations": spec.iterations_per_stage})
    start = base_iterations + (stage - 1) * spec.iterations_per_stage
    seed = int(meta["seed"]) * 1000 + stage
    log(f"stage {stage}: continuing {previous} on {len(images)} images (natural + {stage} pool(s)), iterations {start}..{start + spec.iterations_per_stage}")
    metrics = train(model.to(device), images, labels, solver_spec, seed=seed, log=log, start_iteration=start)
    model.cpu()
    test_x, test_y = load_split(data_h5, "test", limit=test_images)
    metrics["clean_test_error"] = clean_error(model, test_x, test_y)
    log(f"adv_stage{stage}: clean test error {100 * metrics['clean_test_error']:.2f}% on {len(test_x)} images")
    model_spec = {"arch": meta["arch"], "dropout": meta["dropout"], "seed": seed}
    stage_meta = checkpoint_meta(stage_model_name(stage, spec.base_model), model_spec, solver_spec, len(images), metrics)
    stage_meta.update({"stage": stage, "parent": previous, "start_iteration": start, "eps": spec.eps, "c": spec.c})
    save_checkpoint(output, model.to(memory_format=torch.contiguous_format), stage_meta)
    return metrics
