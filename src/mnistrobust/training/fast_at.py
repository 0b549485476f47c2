"""Fast adversarial training (Wong, Rice & Kolter 2020, "Fast is better than free"): every
batch is replaced by one FGSM step from a uniform random start in the eps ball, and Adam
follows a cyclic (triangular) learning rate updated every batch. Their MNIST recipe is
the default: eps 0.3, step 1.25 eps, lr up to 5e-3 at 2/5 of training and back to 0,
batch 100, 10 epochs.

``attack_steps`` > 1 takes that many signed-gradient steps of the same size from the random
start, each projected back to the eps ball: PGD-k training on the same schedule (k = 1 is
FGSM-RS), the few-step middle ground between fast and Madry et al.'s 40-step training.

``method="n_fgsm"`` is N-FGSM (de Jorge et al. 2022): noise from the ball of radius
2 eps, a step of eps, and no projection back to the eps ball (only into [0, 1]).

Single-step training can overfit catastrophically: within an epoch the network learns
to defeat the one FGSM step while its PGD accuracy falls to about zero. The guard
measures PGD accuracy on a fixed batch of training images after every epoch, keeps the
weights of the best epoch, and stops once the accuracy has collapsed.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ..attacks import PGD
from ..attacks.core import evaluating, predictions
from ..attacks.steps import LinfStep, ascend
from ..config import FastATSettings, PGDSettings
from ..nets.models import module_device
from ..progress import Log, Progress
from .solver import EpochSampler, training_note

PEAK_AT = 0.4  # the cyclic learning rate peaks at 2/5 of training (Wong et al.'s MNIST schedule)


@dataclasses.dataclass
class FastATResult:
    """The kept model (the best epoch's weights, in eval mode), one history entry per epoch
    trained, the kept epoch (1-based), and whether training stopped for a collapse."""

    model: nn.Module
    history: list[dict[str, float]]
    kept_epoch: int
    collapsed: bool
    train_seconds: float  # the whole run, guard included
    images_per_second: float


def cyclic_learning_rate(fraction: float, lr_max: float, peak_at: float = PEAK_AT) -> float:
    """Triangular schedule over training (``fraction`` of it done, 0..1): 0 -> lr_max at ``peak_at`` -> 0."""
    if fraction <= peak_at:
        return lr_max * fraction / peak_at
    return lr_max * max(0.0, (1.0 - fraction) / (1.0 - peak_at))


def fast_examples(model: nn.Module, x: torch.Tensor, y: torch.Tensor, settings: FastATSettings, generator: torch.Generator) -> torch.Tensor:
    """``settings.attack_steps`` signed-gradient steps from a uniform random start, as
    ``settings.method`` takes them. The gradient is taken in the model's current mode (train
    mode during training, as Wong et al.)."""
    # N-FGSM's larger noise is what prevents the collapse; projecting would undo it.
    step = LinfStep(x, settings.eps, settings.step, start_radius=settings.noise, in_ball=settings.method != "n_fgsm")
    return ascend(model, step, step.random_start(generator), y, settings.attack_steps)


def keep_or_stop(guard_accuracies: Sequence[float], collapse_fraction: float) -> tuple[int, bool]:
    """The epoch to keep (1-based: the best guard accuracy so far, ties to the later epoch,
    which trained longer) and whether the last epoch collapsed (below ``collapse_fraction``
    of the best)."""
    if not guard_accuracies:
        raise ValueError("keep_or_stop needs the guard accuracy of at least one epoch")
    best = max(guard_accuracies)
    kept = max(epoch for epoch, accuracy in enumerate(guard_accuracies, start=1) if accuracy == best)
    return kept, guard_accuracies[-1] < collapse_fraction * best


def guard_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, settings: FastATSettings) -> float:
    """PGD accuracy on the guard batch, in eval mode, from the same random starts every epoch
    (so that epochs differ by their weights only); 2.5 eps / steps is the usual step size."""
    attack = PGD(PGDSettings(steps=settings.guard_steps, restarts=1, random_start=True))
    with evaluating(model):
        examples = attack.examples(model, images, labels, settings.eps, torch.Generator().manual_seed(settings.seed))
        return (predictions(model, examples) == labels).float().mean().item()


def fast_adversarial_training(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    settings: FastATSettings,
    log: Log = print,
) -> FastATResult:
    """Train ``model`` where its parameters are, epoch by epoch (each a fresh shuffle of
    ``images``, the last partial batch left out), on fast adversarial examples; after each
    epoch the guard measures PGD accuracy on the first ``guard_images`` of a seeded
    permutation of the training set. Returns the best epoch's model."""
    torch.manual_seed(settings.seed)  # dropout masks draw from the global generator
    device = module_device(model)
    images, labels = images.to(device), labels.to(device)
    sampler = EpochSampler(len(images), settings.batch_size, settings.seed)
    noise_generator = torch.Generator().manual_seed(settings.seed)
    # Its own permutation (seed + 1), not the sampler's order for the first epoch.
    guard_index = torch.randperm(len(images), generator=torch.Generator().manual_seed(settings.seed + 1))[: settings.guard_images]
    guard_images, guard_labels = images[guard_index.to(device)], labels[guard_index.to(device)]

    # channels_last roughly doubles LeNet's CPU throughput (solver.py).
    model.to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr_max)
    steps_per_epoch = len(images) // settings.batch_size
    total_steps = settings.epochs * steps_per_epoch
    progress = Progress(f"fast adversarial training ({settings.attack_name}, eps {settings.eps}): iteration", total_steps, log)
    history: list[dict[str, float]] = []
    best_state: dict[str, torch.Tensor] = {}
    kept_epoch, collapsed = 0, False
    started = time.perf_counter()

    for epoch in range(1, settings.epochs + 1):
        epoch_started = time.perf_counter()
        # Summed on the device and read once per epoch: .item() every step would stall a GPU.
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        for step in range(steps_per_epoch):
            done = (epoch - 1) * steps_per_epoch + step + 1
            lr = cyclic_learning_rate(done / total_steps, settings.lr_max)
            for group in optimizer.param_groups:
                group["lr"] = lr
            index = sampler.next_indices().to(device)
            batch, batch_labels = images[index].contiguous(memory_format=torch.channels_last), labels[index]
            adversarial = fast_examples(model, batch, batch_labels, settings, noise_generator)
            log_probs = model(adversarial.contiguous(memory_format=torch.channels_last))
            loss = F.nll_loss(log_probs, batch_labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach()
            correct += (log_probs.argmax(1) == batch_labels).sum()
            if step + 1 < steps_per_epoch:  # the epoch's last step gets its line below
                progress.update(done)

        accuracy = guard_accuracy(model, guard_images, guard_labels, settings)
        history.append(
            {
                "epoch": epoch,
                "train_loss": loss_sum.item() / steps_per_epoch,
                "train_robust_acc": correct.item() / (steps_per_epoch * settings.batch_size),
                "guard_pgd_acc": accuracy,
                "lr": lr,
                "seconds": time.perf_counter() - epoch_started,
            }
        )
        kept_epoch, collapsed = keep_or_stop([entry["guard_pgd_acc"] for entry in history], settings.collapse_fraction)
        if kept_epoch == epoch:
            best_state = {name: value.detach().clone() for name, value in model.state_dict().items()}
        note = training_note(history[-1]["train_loss"], lr, done * settings.batch_size, started)
        progress.update(done, f"epoch {epoch}/{settings.epochs}: guard PGD accuracy {100 * accuracy:.1f}%, {note}", force=True)
        if collapsed:
            log(f"guard PGD accuracy collapsed at epoch {epoch} (best {100 * history[kept_epoch - 1]['guard_pgd_acc']:.1f}% at epoch {kept_epoch}): stopping")
            break

    model.load_state_dict(best_state)
    model.eval()
    elapsed = time.perf_counter() - started
    log(f"fast adversarial training: kept epoch {kept_epoch} of {len(history)} trained")
    return FastATResult(model, history, kept_epoch, collapsed, elapsed, len(history) * steps_per_epoch * settings.batch_size / elapsed)
