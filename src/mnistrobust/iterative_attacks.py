"""Iterative L-inf attacks beyond the paper's single FGSM step: PGD with random start and
restarts, EOT gradients for randomized defenses, the gradient-free Square attack (a check
for masked gradients), and the attack-parameter checks.

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
import math
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .defenses import LowPassFilter
from .errors import ConfigError

# Attack names a configuration may ask for (config strong_attacks.attacks).
ATTACK_NAMES = ("fgsm", "pgd", "eot_pgd", "square", "transfer")


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


@dataclasses.dataclass(frozen=True)
class SquareSettings:
    """L-inf Square attack (Andriushchenko et al. 2020): random search with square patches
    of +-eps, no gradients. ``p_init`` is the fraction of pixels the first patch covers
    (0.3 is the paper's MNIST value); it halves on their schedule as queries are spent."""

    queries: int = 1000
    p_init: float = 0.3

    def __post_init__(self):
        if not isinstance(self.queries, int) or self.queries < 1:
            raise ConfigError(f"Square queries must be an integer >= 1, got {self.queries!r}")
        if not 0 < self.p_init <= 1:
            raise ConfigError(f"Square p_init must be in (0, 1], got {self.p_init!r}")

    def side(self, query: int, height: int) -> int:
        """Patch side at ``query``: the schedule of the reference code, rescaled to the budget."""
        progress = int(query / self.queries * 10_000)
        fraction = self.p_init / 2 ** sum(progress > boundary for boundary in (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000))
        return min(max(round(math.sqrt(fraction * height * height)), 1), height - 1)


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


class _Successes:
    """Which (eps, image) pairs an attack has fooled so far, and the Eq. 2 change of the
    example that did it. A success at one eps counts at every larger eps too (the same
    example lies inside the larger ball), so those rows stop early as well."""

    def __init__(self, images: torch.Tensor, n_eps: int):
        self.images = images
        self.fooled = torch.zeros(n_eps, len(images), dtype=torch.bool, device=images.device)
        self.abs_change = torch.zeros(n_eps, len(images), dtype=torch.float64, device=images.device)

    def rows(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every (image, eps) row, image-major so that the eps values of one image share a chunk."""
        n_eps, n = self.fooled.shape
        device = self.images.device
        return torch.arange(n, device=device).repeat_interleave(n_eps), torch.arange(n_eps, device=device).repeat(n)

    def unsettled(self, rows_image: torch.Tensor, rows_eps: torch.Tensor) -> torch.Tensor:
        return ~self.fooled[rows_eps, rows_image]

    def chunks(self, rows_image: torch.Tensor, rows_eps: torch.Tensor, batch_size: int):
        """The rows in chunks of ``batch_size``, each without the rows settled meanwhile."""
        for start in range(0, len(rows_image), batch_size):
            chunk_image, chunk_eps = rows_image[start : start + batch_size], rows_eps[start : start + batch_size]
            keep = self.unsettled(chunk_image, chunk_eps)
            if keep.any():
                yield chunk_image[keep], chunk_eps[keep]

    def record_and_drop(self, rows_image, rows_eps, examples, success, *row_tensors) -> tuple[torch.Tensor, ...]:
        """``record``, then return the rows (image, eps and each of ``row_tensors``) still unsettled."""
        self.record(rows_image, rows_eps, examples, success)
        keep = self.unsettled(rows_image, rows_eps)
        return tuple(t[keep] for t in (rows_image, rows_eps, *row_tensors))

    def record(self, rows_image: torch.Tensor, rows_eps: torch.Tensor, examples: torch.Tensor, success: torch.Tensor) -> None:
        """Mark successes, carry them to larger eps of the same image, and note the distortion."""
        change = (examples - self.images[rows_image]).abs().flatten(1).sum(1).double()
        self.abs_change[rows_eps, rows_image] = torch.where(success, change, self.abs_change[rows_eps, rows_image])
        image, level = rows_image[success], rows_eps[success]
        for k in range(self.fooled.shape[0]):
            newly = (level <= k) & ~self.fooled[k, image]
            self.fooled[k, image[newly]] = True
            self.abs_change[k, image[newly]] = change[success][newly]

    def record_final(self, model: nn.Module, rows_image, rows_eps, clean, truth, current) -> None:
        """Judge the rows still unbroken after the last iterate by one forward pass (one fresh
        noise draw for a random defense); unbroken rows report their last iterate's change."""
        if not len(rows_image):
            return
        with torch.inference_mode():
            final = model(current.contiguous(memory_format=torch.channels_last)).argmax(1)
        self.abs_change[rows_eps, rows_image] = (current - clean).abs().flatten(1).sum(1).double()
        self.record(rows_image, rows_eps, current, final != truth)

    def outcome(self, eps: list[float]) -> AttackOutcome:
        return AttackOutcome(eps, self.fooled.cpu(), self.abs_change.cpu())


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

    ``batch_size`` counts images per forward pass: with EOT a chunk holds
    ``batch_size // eot_samples`` rows, since each row goes through the network
    ``eot_samples`` times (10,000-image EOT batches ran 1.6x slower than 1,000-image ones
    on a 2-core CPU: the activations no longer fit the caches).
    """
    eps = check_eps(eps)
    randomized = is_randomized(model)
    model.eval()
    eps_tensor = torch.tensor(eps, dtype=images.dtype, device=images.device)
    successes = _Successes(images, len(eps))
    generator = torch.Generator().manual_seed(seed)
    all_images, all_eps = successes.rows()

    for restart in range(settings.restarts):
        pending = successes.unsettled(all_images, all_eps)
        rows_image, rows_eps = all_images[pending], all_eps[pending]
        log(f"restart {restart + 1}/{settings.restarts}: {len(rows_image)} of {len(all_images)} (image, eps) rows unsettled")
        for chunk_image, chunk_eps in successes.chunks(rows_image, rows_eps, max(1, batch_size // eot_samples)):
            clean, truth = images[chunk_image], labels[chunk_image]
            radius = eps_tensor[chunk_eps].view(-1, 1, 1, 1)
            step = settings.step_for(radius)
            current = random_start(clean, radius, generator) if settings.random_start else clean.clone()
            for _ in range(settings.steps):
                grad, log_probs = eot_input_gradient(model, current, truth, eot_samples)
                if not randomized:
                    success = log_probs.argmax(1) != truth
                    if success.any():
                        chunk_image, chunk_eps, clean, truth, radius, current, grad = successes.record_and_drop(
                            chunk_image, chunk_eps, current, success, clean, truth, radius, current, grad
                        )
                        step = settings.step_for(radius)
                        if len(chunk_image) == 0:
                            break
                current = pgd_step(current, clean, grad, step, radius)
            successes.record_final(model, chunk_image, chunk_eps, clean, truth, current)
    return successes.outcome(eps)


def margin(log_probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """log p(true) - max log p(other): negative exactly when the image is misclassified."""
    true = log_probs.gather(1, labels[:, None]).squeeze(1)
    other = log_probs.scatter(1, labels[:, None], float("-inf")).amax(1)
    return true - other


def _patch_masks(rows: int, side: int, height: int, generator: torch.Generator, device) -> torch.Tensor:
    """One random side x side square per row, as a rows x 1 x height x height bool mask."""
    top, left = (torch.randint(0, height - side + 1, (rows,), generator=generator) for _ in range(2))
    ruler = torch.arange(height)
    in_rows = (ruler >= top[:, None]) & (ruler < top[:, None] + side)
    in_cols = (ruler >= left[:, None]) & (ruler < left[:, None] + side)
    return (in_rows[:, :, None] & in_cols[:, None, :]).unsqueeze(1).to(device)


def square_outcome(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: Sequence[float],
    settings: SquareSettings,
    seed: int = 0,
    batch_size: int = 1000,
    log: Callable[[str], None] = lambda _: None,
) -> AttackOutcome:
    """The Square attack at every eps, as one batch of (image, eps) rows (like pgd_outcome).

    Starts from vertical stripes of +-eps, then each query redraws one square of the
    perturbation to a single random sign and keeps it when the margin drops. Being
    gradient-free, it is the field's check for masked gradients: a defense that withstands
    PGD but not this has gradients that mislead, not robustness. A deterministic model is
    fooled at the first query with a negative margin; a random one is judged on the final
    example with one fresh noise draw (as PGD judges it).
    """
    eps = check_eps(eps)
    randomized = is_randomized(model)
    model.eval()
    device, height = images.device, images.shape[-1]
    eps_tensor = torch.tensor(eps, dtype=images.dtype, device=device)
    successes = _Successes(images, len(eps))
    generator = torch.Generator().manual_seed(seed)
    rows_image, rows_eps = successes.rows()
    log(f"square: {len(rows_image)} (image, eps) rows, {settings.queries} queries")

    def signs(shape) -> torch.Tensor:
        return (2 * torch.randint(0, 2, shape, generator=generator) - 1).to(device, images.dtype)

    @torch.inference_mode()
    def margins(x, truth):
        return margin(model(x.contiguous(memory_format=torch.channels_last)), truth)

    for chunk_image, chunk_eps in successes.chunks(rows_image, rows_eps, batch_size):
        clean, truth = images[chunk_image], labels[chunk_image]
        radius = eps_tensor[chunk_eps].view(-1, 1, 1, 1)
        best = (clean + radius * signs((len(clean), 1, 1, height))).clamp(0.0, 1.0)
        best_margin = margins(best, truth)
        for query in range(settings.queries):
            if not randomized:
                success = best_margin < 0
                if success.any():
                    chunk_image, chunk_eps, clean, truth, radius, best, best_margin = successes.record_and_drop(
                        chunk_image, chunk_eps, best, success, clean, truth, radius, best, best_margin
                    )
                    if len(chunk_image) == 0:
                        break
            patch = _patch_masks(len(clean), settings.side(query, height), height, generator, device)
            sign = signs((len(clean), 1, 1, 1))
            candidate = torch.where(patch, (clean + radius * sign).clamp(0.0, 1.0), best)
            # A patch equal to what is there already would waste the query: flip its sign.
            unchanged = ((candidate - best).abs() * patch).flatten(1).amax(1) == 0
            if unchanged.any():
                flipped = torch.where(patch, (clean - radius * sign).clamp(0.0, 1.0), best)
                candidate = torch.where(unchanged.view(-1, 1, 1, 1), flipped, candidate)
            candidate_margin = margins(candidate, truth)
            better = candidate_margin < best_margin
            best = torch.where(better.view(-1, 1, 1, 1), candidate, best)
            best_margin = torch.where(better, candidate_margin, best_margin)
        if randomized:
            successes.record_final(model, chunk_image, chunk_eps, clean, truth, best)
        elif len(chunk_image):
            success = best_margin < 0
            successes.abs_change[chunk_eps, chunk_image] = (best - clean).abs().flatten(1).sum(1).double()
            successes.record(chunk_image, chunk_eps, best, success)
    return successes.outcome(eps)
