"""Iterative L-inf attacks beyond the paper's single FGSM step: PGD with random start and
restarts, EOT gradients for randomized defenses, and the attack-parameter checks.

Every attack clips to [0, 1] and projects onto the L-inf ball of radius eps around the
clean image. Classifiers return log-probabilities; the loss is the NLL of the true label.

Speed (measured in bench/attack_benchmark.py): all eps values of an evaluation run in one
batch (one row per (image, eps) pair), and a row leaves the batch as soon as the attack has
succeeded for it, i.e. its image is misclassified at that eps or at a smaller one (an
example inside the smaller ball is inside the larger one too): the error counts one
success per image, so iterating further on it would change nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .defenses import LowPassFilter
from .errors import ConfigError

# Attack names a configuration may ask for (config strong_attacks.attacks).
ATTACK_NAMES = ("fgsm", "pgd", "eot_pgd", "transfer")


def check_attack_names(names: Sequence[str]) -> list[str]:
    unknown = [name for name in names if name not in ATTACK_NAMES]
    if unknown or not names:
        raise ConfigError(f"unknown attack name(s) {unknown or names!r}; known: {list(ATTACK_NAMES)}")
    return list(names)


def check_eps(eps_values: Sequence[float]) -> list[float]:
    """Strictly positive eps values, ascending (the early-exit bookkeeping relies on the order)."""
    values = [float(eps) for eps in eps_values]
    if not values or any(not eps > 0 for eps in values):
        raise ConfigError(f"attack eps must be positive numbers, got {list(eps_values)}")
    if len(set(values)) != len(values):
        raise ConfigError(f"attack eps values repeat: {values}")
    return sorted(values)


@dataclasses.dataclass(frozen=True)
class PGDSettings:
    """L-inf PGD. The step is ``relative_step_size * eps / steps`` (2.5 eps / steps is the usual
    rule: enough to cross the ball and come back), unless ``step_size`` fixes it absolutely
    (Madry et al.'s training attack: 0.01 for eps 0.3)."""

    steps: int = 40
    restarts: int = 5
    relative_step_size: float = 2.5
    step_size: float | None = None
    random_start: bool = True

    def __post_init__(self):
        if not isinstance(self.steps, int) or self.steps < 1:
            raise ConfigError(f"PGD steps must be an integer >= 1, got {self.steps!r}")
        if not isinstance(self.restarts, int) or self.restarts < 1:
            raise ConfigError(f"PGD restarts must be an integer >= 1, got {self.restarts!r}")
        if not self.relative_step_size > 0:
            raise ConfigError(f"PGD relative_step_size must be positive, got {self.relative_step_size!r}")
        if self.step_size is not None and not self.step_size > 0:
            raise ConfigError(f"PGD step_size must be positive, got {self.step_size!r}")

    def step_for(self, eps: torch.Tensor | float):
        return self.step_size if self.step_size is not None else self.relative_step_size * eps / self.steps


def is_randomized(model: nn.Module) -> bool:
    """True when the network draws fresh noise at every forward pass (a noisy low-pass filter)."""
    return any(isinstance(module, LowPassFilter) and module.noise_sigma > 0 for module in model.modules())


def eot_input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor, samples: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of the NLL summed over ``samples`` copies of each image (expectation over
    transformation: a random defense draws its own noise for every copy, since the copies
    go through it as one batch), and the log-probabilities of the first copy."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        batch = x if samples == 1 else x.repeat(samples, 1, 1, 1)
        log_probs = model(batch.contiguous(memory_format=torch.channels_last))
        loss = F.nll_loss(log_probs, y.repeat(samples), reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad, log_probs[: len(x)].detach()


def pgd_step(x: torch.Tensor, clean: torch.Tensor, grad: torch.Tensor, step, eps) -> torch.Tensor:
    """One signed-gradient ascent step, projected onto the eps ball and clipped to [0, 1]."""
    x = x + step * grad.sign()
    return torch.minimum(torch.maximum(x, clean - eps), clean + eps).clamp_(0.0, 1.0)


def random_start(clean: torch.Tensor, eps, generator: torch.Generator) -> torch.Tensor:
    """A uniform point of the eps ball (clipped); drawn on the CPU so it repeats on any device."""
    noise = torch.rand(clean.shape, generator=generator).to(clean.device, clean.dtype)
    return (clean + (2 * noise - 1) * eps).clamp_(0.0, 1.0)


def pgd_examples(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    settings: PGDSettings,
    generator: torch.Generator | None = None,
    eot_samples: int = 1,
) -> torch.Tensor:
    """Plain PGD for one batch and one eps, all ``settings.steps`` steps, one restart: the
    examples for adversarial training and for transfer. Runs the model in eval mode."""
    if not eps > 0:
        raise ConfigError(f"attack eps must be positive, got {eps}")
    was_training = model.training
    model.eval()
    clean = x.detach()
    if settings.random_start:
        current = random_start(clean, eps, generator if generator is not None else torch.Generator().manual_seed(0))
    else:
        current = clean.clone()
    step = settings.step_for(eps)
    for _ in range(settings.steps):
        grad, _ = eot_input_gradient(model, current, y, eot_samples)
        current = pgd_step(current, clean, grad, step, eps)
    model.train(was_training)
    return current.detach()


@dataclasses.dataclass
class AttackOutcome:
    """Per (eps, image): whether the attack made the model misclassify, and the Eq. 2 sum of
    absolute pixel changes of the example it settled on (the successful one, else the last)."""

    eps: list[float]
    fooled: torch.Tensor  # bool, eps x images
    abs_change: torch.Tensor  # float64, eps x images

    def error(self) -> list[float]:
        return self.fooled.double().mean(1).tolist()

    def dist(self, pixels: int) -> list[float]:
        return (self.abs_change.mean(1) / pixels).tolist()


@torch.inference_mode()
def predictions(model: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Predicted labels; one forward pass per image (a random defense draws its noise once, as when deployed)."""
    return torch.cat(
        [model(images[i : i + batch_size].contiguous(memory_format=torch.channels_last)).argmax(1) for i in range(0, len(images), batch_size)]
    )


def fixed_examples_outcome(model: nn.Module, clean: torch.Tensor, labels: torch.Tensor, examples: torch.Tensor, eps: Sequence[float], batch_size: int = 1000) -> AttackOutcome:
    """Score given examples (eps x images x 1 x 28 x 28, e.g. FGSM or transfer examples)."""
    fooled = torch.stack([predictions(model, examples[k], batch_size) != labels for k in range(len(eps))])
    abs_change = torch.stack([(examples[k] - clean).abs().flatten(1).sum(1).double() for k in range(len(eps))])
    return AttackOutcome(list(eps), fooled.cpu(), abs_change.cpu())


def fgsm_outcome(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: Sequence[float], batch_size: int = 1000, scored_on: nn.Module | None = None
) -> AttackOutcome:
    """Eq. 1 at every eps from one gradient sign per image (the sign does not depend on eps),
    scored on ``scored_on`` (default: the attacked model; an oblivious attacker's examples
    are scored on the whole method)."""
    outcomes = []
    for start in range(0, len(images), batch_size):
        x, y = images[start : start + batch_size], labels[start : start + batch_size]
        sign = eot_input_gradient(model.eval(), x, y)[0].sign()
        examples = torch.stack([(x + e * sign).clamp(0.0, 1.0) for e in eps])
        outcomes.append(fixed_examples_outcome(scored_on or model, x, y, examples, eps, batch_size))
    return AttackOutcome(list(eps), torch.cat([o.fooled for o in outcomes], 1), torch.cat([o.abs_change for o in outcomes], 1))


def pgd_example_sets(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: Sequence[float], settings: PGDSettings, seed: int = 0, batch_size: int = 1000
) -> torch.Tensor:
    """Full-length PGD examples (one restart) of a whole set at every eps: eps x images x 1 x 28 x 28."""
    generator = torch.Generator().manual_seed(seed)
    return torch.stack(
        [
            torch.cat([pgd_examples(model, images[i : i + batch_size], labels[i : i + batch_size], e, settings, generator) for i in range(0, len(images), batch_size)])
            for e in eps
        ]
    )


def pgd_outcome(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: Sequence[float],
    settings: PGDSettings,
    seed: int = 0,
    eot_samples: int = 1,
    batch_size: int = 1000,
    log: Callable[[str], None] = lambda _: None,
) -> AttackOutcome:
    """PGD with random start and restarts at every eps, as one batch of (image, eps) rows.

    A row stops as soon as its image is misclassified at its eps or a smaller one (that
    example lies in the larger ball too), also between restarts. For a deterministic model
    every iterate is checked (the forward pass of the gradient gives the prediction for free).
    A randomized model is judged once per restart, on the final iterate, with one fresh draw
    of its noise, as when deployed (checking every iterate would count lucky noise draws).
    """
    eps = check_eps(eps)
    device = images.device
    randomized = is_randomized(model)
    model.eval()
    n_eps, n = len(eps), len(images)
    eps_tensor = torch.tensor(eps, dtype=images.dtype, device=device)
    fooled = torch.zeros(n_eps, n, dtype=torch.bool, device=device)
    abs_change = torch.zeros(n_eps, n, dtype=torch.float64, device=device)
    generator = torch.Generator().manual_seed(seed)
    # Rows ordered image-major, so the eps values of one image share a chunk.
    all_images = torch.arange(n, device=device).repeat_interleave(n_eps)
    all_eps = torch.arange(n_eps, device=device).repeat(n)

    def record(rows_image, rows_eps, examples, success):
        """Mark successes, carry them to larger eps of the same image, and note the distortion."""
        change = (examples - images[rows_image]).abs().flatten(1).sum(1).double()
        abs_change[rows_eps, rows_image] = torch.where(success, change, abs_change[rows_eps, rows_image])
        image, level = rows_image[success], rows_eps[success]
        for k in range(n_eps):  # a success at eps k is one at every eps >= k with the same example
            newly = (level <= k) & ~fooled[k, image]
            fooled[k, image[newly]] = True
            abs_change[k, image[newly]] = change[success][newly]

    for restart in range(settings.restarts):
        pending = ~fooled[all_eps, all_images]
        rows_image, rows_eps = all_images[pending], all_eps[pending]
        log(f"restart {restart + 1}/{settings.restarts}: {len(rows_image)} of {n * n_eps} (image, eps) rows unsettled")
        for start in range(0, len(rows_image), batch_size):
            chunk_image, chunk_eps = rows_image[start : start + batch_size], rows_eps[start : start + batch_size]
            chunk_image, chunk_eps = _keep_unsettled(fooled, chunk_image, chunk_eps)
            if len(chunk_image) == 0:
                continue
            clean, truth = images[chunk_image], labels[chunk_image]
            radius = eps_tensor[chunk_eps].view(-1, 1, 1, 1)
            step = settings.step_for(radius)
            current = random_start(clean, radius, generator) if settings.random_start else clean.clone()
            for _ in range(settings.steps):
                grad, log_probs = eot_input_gradient(model, current, truth, eot_samples)
                if not randomized:
                    success = log_probs.argmax(1) != truth
                    if success.any():
                        record(chunk_image, chunk_eps, current, success)
                        keep = ~fooled[chunk_eps, chunk_image]
                        chunk_image, chunk_eps, clean, truth, radius, current, grad = (
                            t[keep] for t in (chunk_image, chunk_eps, clean, truth, radius, current, grad)
                        )
                        step = settings.step_for(radius)
                        if len(chunk_image) == 0:
                            break
                current = pgd_step(current, clean, grad, step, radius)
            if len(chunk_image):
                with torch.inference_mode():
                    final = model(current.contiguous(memory_format=torch.channels_last)).argmax(1)
                success = final != truth
                # Rows that stay unbroken report the distortion of their last iterate.
                unbroken_change = (current - clean).abs().flatten(1).sum(1).double()
                abs_change[chunk_eps, chunk_image] = unbroken_change
                record(chunk_image, chunk_eps, current, success)
    return AttackOutcome(eps, fooled.cpu(), abs_change.cpu())


def _keep_unsettled(fooled: torch.Tensor, rows_image: torch.Tensor, rows_eps: torch.Tensor):
    keep = ~fooled[rows_eps, rows_image]
    return rows_image[keep], rows_eps[keep]
