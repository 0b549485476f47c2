"""Transfer attacks: examples made on another method, stored once, scored on this one."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .core import AttackOutcome, fixed_examples_outcome, only_pending


class Transfer:
    """Scores stored examples (eps x images x 1 x 28 x 28) of ``source`` on the method."""

    name = "transfer"

    def __init__(self, source: str, examples: torch.Tensor, batch_size: int = 1000):
        self.source, self.examples, self.batch_size = source, examples, batch_size

    def outcome(
        self, scored: nn.Module, attacked: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: Sequence[float],
        pending: torch.Tensor | None = None,
    ) -> AttackOutcome:
        """``attacked`` is not used: the examples were made on ``source``. Rows ``pending``
        (eps x images) leaves out, where given, are reported unfooled."""
        examples = self.examples.to(images.device)
        return only_pending(fixed_examples_outcome(scored, images, labels, examples, eps, self.batch_size), pending)
