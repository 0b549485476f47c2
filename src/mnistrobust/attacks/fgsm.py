"""The gradient-sign method (Eq. 1) and the paper's Eq. 3 examples for adversarial training."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .core import AttackOutcome, clip_unit, evaluating, fixed_examples_outcome, gradient_sign, input_gradient, only_pending


class FGSM:
    """Eq. 1: clip(X + eps * sign(grad_X L)). The sign does not depend on eps, so a sweep
    computes it once (a sign map) and applies it at every strength."""

    name = "fgsm"

    def __init__(self, batch_size: int = 1000):
        self.batch_size = batch_size

    @staticmethod
    def perturb(x: torch.Tensor, sign: torch.Tensor, eps: float) -> torch.Tensor:
        """Eq. 1 with a precomputed gradient sign."""
        return clip_unit(torch.add(x, sign.to(x.dtype), alpha=eps))

    def sign_map(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return gradient_sign(model, images, labels, self.batch_size)

    def outcome(
        self, scored: nn.Module, attacked: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: Sequence[float],
        pending: torch.Tensor | None = None,
    ) -> AttackOutcome:
        """Eq. 1 at every eps from one gradient sign of ``attacked`` per image, scored on
        ``scored`` (the whole method; ``attacked`` is it, or its classifier alone when
        oblivious). Rows ``pending`` (eps x images) leaves out, where given, are reported
        unfooled: one sign serves every eps, so skipping them would save nothing."""
        outcomes = []
        with evaluating(attacked):
            for start in range(0, len(images), self.batch_size):
                x, y = images[start : start + self.batch_size], labels[start : start + self.batch_size]
                sign = input_gradient(attacked, x, y, channels_last=True)[0].sign()
                examples = torch.stack([self.perturb(x, sign, e) for e in eps])
                outcomes.append(fixed_examples_outcome(scored, x, y, examples, eps, self.batch_size))
        fooled = torch.cat([o.fooled for o in outcomes], 1)
        return only_pending(AttackOutcome(list(eps), fooled, torch.cat([o.abs_change for o in outcomes], 1)), pending)


class Eq3:
    """Eq. 3: X + R + c * grad_X L(theta, X + R, y) with R = eps * sign(grad_X L(theta, X, y)), clipped.

    The gradients are those of the deployed network, so dropout is switched off meanwhile.
    """

    name = "eq3"

    def __init__(self, eps: float, c: float):
        self.eps, self.c = eps, c

    def examples(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with evaluating(model):
            sign_step = x + self.eps * input_gradient(model, x, y)[0].sign()
            return clip_unit(sign_step + self.c * input_gradient(model, sign_step, y)[0])
