"""The one core every attack stands on: the input gradient (with EOT), projection and
clipping, Eq. 2, predictions, eval mode for the length of an attack, and an attack's
outcome. (The L-inf step is in ``steps.py``, the (image, eps) rows in ``rows.py``.)

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
    return clip_unit(torch.minimum(torch.maximum(x, clean - eps), clean + eps))


def absolute_change(perturbed: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Eq. 2's numerator per image: the sum of absolute pixel changes (float64)."""
    return (perturbed - clean).abs().flatten(1).sum(1).double()


def total_absolute_change(perturbed: torch.Tensor, clean: torch.Tensor) -> float:
    """Eq. 2's numerator over a whole batch, summed in one reduction (the sum's rounding is what the stored sweeps hold)."""
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
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode (dropout off: an attack follows the deployed network), each
    module's own mode restored afterwards, also when the attack fails."""
    previous = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        model.train(previous[0][1])  # through train(), for a module that overrides it
        for module, flag in previous:
            module.training = flag


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
    with evaluating(model):
        signs = [
            input_gradient(model, images[i : i + batch_size], labels[i : i + batch_size])[0].sign().to(torch.int8)
            for i in range(0, len(images), batch_size)
        ]
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
    return clip_unit(clean + (2 * noise - 1) * eps)


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


def only_pending(outcome: AttackOutcome, pending: torch.Tensor | None) -> AttackOutcome:
    """``outcome`` with the rows ``pending`` (bool, eps x images) leaves out reported unfooled
    and unchanged, as an attack that runs on the pending rows alone reports them."""
    if pending is None:
        return outcome
    keep = pending.to(outcome.fooled.device)
    return AttackOutcome(outcome.eps, outcome.fooled & keep, torch.where(keep, outcome.abs_change, 0.0))
