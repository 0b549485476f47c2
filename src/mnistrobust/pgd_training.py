"""The field's known-good reference: LeNet trained on PGD examples (Madry et al. 2018:
L-inf eps 0.3, 40 steps of 0.01 from a random start), with a configurable budget."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from .checkpoints import load_model, save_checkpoint
from .data import load_split
from .errors import CheckpointError, ConfigError
from .evaluation import clean_error
from .iterative_attacks import PGDSettings, pgd_examples
from .models import build_model
from .training import SolverSpec, checkpoint_meta, train

REFERENCE_NAME = "pgd_reference"  # the method and model name of the reference row


def reference_budget(reference: Mapping) -> str:
    """The training budget in words, stated beside every number the reference produces."""
    start = f"fine-tuned from {reference['init_model']}" if reference.get("init_model") else "from scratch"
    return (
        f"LeNet PGD-trained {reference['iterations']} iterations x batch {reference.get('batch_size', 64)} "
        f"(eps {reference['eps']:g}, {reference['steps']} steps of {reference['step_size']:g}, random start), {start}"
    )


def pgd_perturbation(reference: Mapping, seed: int) -> Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]:
    """The ``perturb_batch`` hook of ``train``: every batch replaced by its PGD examples."""
    if not reference["eps"] > 0:
        raise ConfigError(f"reference eps must be positive, got {reference['eps']}")
    settings = PGDSettings(steps=reference["steps"], restarts=1, step_size=reference["step_size"], random_start=True)
    generator = torch.Generator().manual_seed(seed)

    def perturb(model, batch, labels):
        return pgd_examples(model, batch, labels, reference["eps"], settings, generator)

    return perturb


def train_pgd_reference(
    data_h5: str,
    checkpoint: str,
    reference: Mapping,
    solver: Mapping,
    train_images: int,
    test_images: int,
    init_checkpoint: str | None = None,
    device: torch.device | str = "cpu",
    log: Callable[[str], None] = print,
) -> dict[str, float]:
    """Train the reference LeNet with PGD adversarial training and save it as ``pgd_reference``.

    Starting from a trained model (``init_checkpoint``) continues its learning-rate schedule,
    as the adversarial stages do; from scratch the network is Xavier-initialised with ``seed``.
    """
    spec = SolverSpec(**{**solver, "iterations": reference["iterations"], "batch_size": reference.get("batch_size", solver["batch_size"])})
    start_iteration = 0
    if init_checkpoint is not None:
        model, meta = load_model(init_checkpoint)
        if meta.get("name") != reference["init_model"] or meta["arch"] != "lenet":
            raise CheckpointError(f"{init_checkpoint} holds {meta.get('name')!r} ({meta['arch']}), expected LeNet {reference['init_model']!r}")
        if any(rate > 0 for rate in model.dropout_rates.values()):
            raise CheckpointError(f"{init_checkpoint}: the reference starts from a LeNet without dropout")
        start_iteration = int(meta["solver"]["iterations"])
    else:
        model = build_model("lenet")
        model.reset_parameters(reference["seed"])
    images, labels = load_split(data_h5, "train", limit=train_images)
    test_x, test_y = load_split(data_h5, "test", limit=test_images)
    model = model.to(device)
    log(f"PGD adversarial training: {reference_budget(reference)}; {len(images)} training images, {spec}")
    metrics = train(
        model, images.to(device), labels.to(device), spec, seed=reference["seed"], log=log,
        start_iteration=start_iteration, perturb_batch=pgd_perturbation(reference, reference["seed"]),
    )
    metrics["clean_test_error"] = clean_error(model, test_x.to(device), test_y.to(device))
    metrics["test_images"] = len(test_x)
    log(f"{REFERENCE_NAME}: clean test error {100 * metrics['clean_test_error']:.2f}% on {len(test_x)} images")
    meta = checkpoint_meta(REFERENCE_NAME, {"arch": "lenet", "dropout": {}, "seed": reference["seed"]}, spec, len(images), metrics)
    meta["pgd_training"] = {**dict(reference), "budget": reference_budget(reference)}
    save_checkpoint(checkpoint, model.cpu().to(memory_format=torch.contiguous_format), meta)
    return metrics
