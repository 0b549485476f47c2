"""The one core every attack stands on: the input gradient (with EOT), projection and
clipping, Eq. 2, predictions, and the bookkeeping of which (image, eps) pairs an attack
has fooled.

Every perturbed image is clipped to [0, 1] (docs/design.md); an L-inf attack also stays
in the eps ball around the clean image. Classifiers return log-probabilities, so the
loss is the NLL of the true label.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence

import torch
from torch import nn
from torch.nn import functional as F





def clip_unit(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(0.0, 1.0)


def project(x: torch.Tensor, clean: torch.Tensor, eps) -> torch.Tensor:
    """Onto the L-inf ball of radius ``eps`` (a float or per-row radii) around ``clean``, then into [0, 1]."""
    return torch.minimum(torch.maximum(x, clean - eps), clean + eps).clamp_(0.0, 1.0)


def absolute_change(perturbed: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Eq. 2's numerator per image: the sum of absolute pixel changes (float64)."""
    return (perturbed - clean).abs().flatten(1).sum(1).double()


def total_absolute_change(perturbed: torch.Tensor, clean: torch.Tensor) -> float:
    """Eq. 2's numerator over a whole batch (summed in one reduction, as the sweeps always have)."""
    return (perturbed - clean).abs().sum().item()


def distortion(total_change: float, images: int, pixels_per_image: int) -> float:
    """Eq. 2: the mean absolute per-pixel change over the whole set."""
    return total_change / (images * pixels_per_image)


def input_gradient(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, samples: int = 1, channels_last: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of the NLL with respect to the input, summed over the batch, and the
    log-probabilities of the (first copy of the) batch.

    ``samples`` > 1 is EOT (expectation over transformation): the loss is summed over that
    many copies of each image, and a random defense draws its own noise for every copy
    since they go through it as one batch. ``channels_last`` runs the network in that
    memory format (faster for LeNet on the CPU); the stored sign maps were made without.
    """
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        batch = x if samples == 1 else x.repeat(samples, 1, 1, 1)
        if channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        log_probs = model(batch)
        loss = F.nll_loss(log_probs, y if samples == 1 else y.repeat(samples), reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad, log_probs[: len(x)].detach()


@contextlib.contextmanager
def frozen_parameters(model: nn.Module) -> Iterator[nn.Module]:
    """The model with ``requires_grad`` off on every parameter, restored afterwards. An attack
    needs the gradient of the input only; a library attack that calls ``backward()``
    (torchattacks' FAB) would otherwise compute every weight's gradient too, at the cost of
    another forward pass or more per step."""
    previous = [(parameter, parameter.requires_grad) for parameter in model.parameters()]
    for parameter, _ in previous:
        parameter.requires_grad_(False)
    try:
        yield model
    finally:
        for parameter, flag in previous:
            parameter.requires_grad_(flag)


def gradient_sign(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """sign(grad_X L) of a whole set, as int8 (it does not depend on eps, so it is computed once)."""
    was_training = model.training
    model.eval()
    signs = [
        input_gradient(model, images[i : i + batch_size], labels[i : i + batch_size])[0].sign().to(torch.int8)
        for i in range(0, len(images), batch_size)
    ]
    model.train(was_training)
    return torch.cat(signs)


@torch.inference_mode()
def predictions(model: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Predicted labels; one forward pass per image (a random defense draws its noise once, as when deployed)."""
    return torch.cat(
        [
            model(images[i : i + batch_size].contiguous(memory_format=torch.channels_last)).argmax(1)
            for i in range(0, len(images), batch_size)
        ]
    )


def margin(log_probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """log p(true) - max log p(other): negative exactly when the image is misclassified."""
    true = log_probs.gather(1, labels[:, None]).squeeze(1)
    other = log_probs.scatter(1, labels[:, None], float("-inf")).amax(1)
    return true - other


def is_randomized(model: nn.Module) -> bool:
    """True when the network draws fresh noise at every forward pass (a noisy low-pass filter,
    or a plug-in defense that declares ``randomized = True``)."""
    return any(getattr(module, "randomized", False) for module in model.modules())


def random_start(clean: torch.Tensor, eps, generator: torch.Generator) -> torch.Tensor:
    """A uniform point of the eps ball (clipped); drawn on the CPU so it repeats on any device."""
    noise = torch.rand(clean.shape, generator=generator).to(clean.device, clean.dtype)
    return (clean + (2 * noise - 1) * eps).clamp_(0.0, 1.0)


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


def fixed_examples_outcome(
    model: nn.Module,
    clean: torch.Tensor,
    labels: torch.Tensor,
    examples: torch.Tensor,
    eps: Sequence[float],
    batch_size: int = 1000,
) -> AttackOutcome:
    """Score given examples (eps x images x 1 x 28 x 28, e.g. FGSM or transfer examples)."""
    fooled = torch.stack([predictions(model, examples[k], batch_size) != labels for k in range(len(eps))])
    abs_change = torch.stack([absolute_change(examples[k], clean) for k in range(len(eps))])
    return AttackOutcome(list(eps), fooled.cpu(), abs_change.cpu())


class Successes:
    """Which (eps, image) pairs an attack has fooled so far, and the Eq. 2 change of the
    example that did it. A success at one eps counts at every larger eps too (the same
    example lies inside the larger ball), so those rows stop early as well.

    Speed (bench/attack_benchmark.py): all eps values run in one batch, one row per
    (image, eps) pair, and a row leaves the batch as soon as it is settled: the error
    counts one success per image, so iterating further on it would change nothing.
    """

    def __init__(self, images: torch.Tensor, n_eps: int):
        self.images = images
        self.fooled = torch.zeros(n_eps, len(images), dtype=torch.bool, device=images.device)
        self.abs_change = torch.zeros(n_eps, len(images), dtype=torch.float64, device=images.device)

    def rows(self, pending: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Every (image, eps) row, image-major so that the eps values of one image share a chunk;
        with ``pending`` (bool, eps x images) only the rows it marks (an attack of a cascade
        runs on the rows the attacks before it left robust)."""
        n_eps, n = self.fooled.shape
        device = self.images.device
        rows_image, rows_eps = torch.arange(n, device=device).repeat_interleave(n_eps), torch.arange(n_eps, device=device).repeat(n)
        if pending is None:
            return rows_image, rows_eps
        keep = pending.to(device)[rows_eps, rows_image]
        return rows_image[keep], rows_eps[keep]

    def unsettled(self, rows_image: torch.Tensor, rows_eps: torch.Tensor) -> torch.Tensor:
        return ~self.fooled[rows_eps, rows_image]

    def chunks(self, rows_image: torch.Tensor, rows_eps: torch.Tensor, batch_size: int):
        """The rows in chunks of ``batch_size``, each without the rows settled meanwhile, with
        the position in ``rows_image`` where the chunk started and ended (for progress lines)."""
        for start in range(0, len(rows_image), batch_size):
            chunk_image, chunk_eps = rows_image[start : start + batch_size], rows_eps[start : start + batch_size]
            keep = self.unsettled(chunk_image, chunk_eps)
            if keep.any():
                yield start, start + len(chunk_image), chunk_image[keep], chunk_eps[keep]

    def record_and_drop(self, rows_image, rows_eps, examples, success, *row_tensors) -> tuple[torch.Tensor, ...]:
        """``record``, then return the rows (image, eps and each of ``row_tensors``) still unsettled."""
        self.record(rows_image, rows_eps, examples, success)
        keep = self.unsettled(rows_image, rows_eps)
        return tuple(t[keep] for t in (rows_image, rows_eps, *row_tensors))

    def record(self, rows_image: torch.Tensor, rows_eps: torch.Tensor, examples: torch.Tensor, success: torch.Tensor) -> None:
        """Mark successes, carry them to larger eps of the same image, and note the distortion."""
        change = absolute_change(examples, self.images[rows_image])
        self.abs_change[rows_eps, rows_image] = torch.where(success, change, self.abs_change[rows_eps, rows_image])
        image, level = rows_image[success], rows_eps[success]
        for k in range(self.fooled.shape[0]):
            newly = (level <= k) & ~self.fooled[k, image]
            self.fooled[k, image[newly]] = True
            self.abs_change[k, image[newly]] = change[success][newly]

    def record_last(self, rows_image, rows_eps, clean, examples, success) -> None:
        """Rows the attack is done with: their last example's change, and whether it succeeded."""
        self.abs_change[rows_eps, rows_image] = absolute_change(examples, clean)
        self.record(rows_image, rows_eps, examples, success)

    def record_final(self, model: nn.Module, rows_image, rows_eps, clean, truth, current) -> None:
        """Judge the rows still unbroken after the last iterate by one forward pass (one fresh
        noise draw for a random defense); unbroken rows report their last iterate's change."""
        if not len(rows_image):
            return
        with torch.inference_mode():
            final = model(current.contiguous(memory_format=torch.channels_last)).argmax(1)
        self.record_last(rows_image, rows_eps, clean, current, final != truth)

    def outcome(self, eps: list[float]) -> AttackOutcome:
        return AttackOutcome(eps, self.fooled.cpu(), self.abs_change.cpu())
