"""The (image, eps) row scheduler PGD and Square run on: which rows an attack has fooled
so far, the example that did it, and chunks of the rows still to attack.

Speed (bench/attack_benchmark.py): all eps values run in one batch, one row per
(image, eps) pair, and a row leaves the batch as soon as it is settled: the error counts
one success per image, so iterating further on it would change nothing. A success at one
eps counts at every larger eps too (the same example lies inside the larger ball), so
those rows stop early as well.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from ..config import check_eps
from .core import AttackOutcome, absolute_change, is_randomized


@dataclasses.dataclass
class Chunk:
    """A batch of rows: their image and eps indices (``level``), clean images, true labels
    and radii (rows x 1 x 1 x 1); ``start`` and ``end``: where the chunk lay in the rows of
    its pass (for progress lines)."""

    start: int
    end: int
    image: torch.Tensor
    level: torch.Tensor
    clean: torch.Tensor
    truth: torch.Tensor
    radius: torch.Tensor

    def __len__(self) -> int:
        return len(self.image)

    def __getitem__(self, keep: torch.Tensor) -> Chunk:
        """The rows ``keep`` (bool, one per row) marks."""
        return Chunk(self.start, self.end, *(t[keep] for t in (self.image, self.level, self.clean, self.truth, self.radius)))


class RowScheduler:
    """Every (image, eps) row of one attack on ``model``, or only those ``pending`` (bool,
    eps x images) marks where given (an attack of a cascade runs on the rows the attacks
    before it left robust; the others are left unfooled). ``generator``: the attack's random
    numbers, seeded ``seed``; ``randomized``: whether the model draws fresh noise per pass."""

    def __init__(
        self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: Sequence[float],
        pending: torch.Tensor | None = None, seed: int = 0,
    ):
        self.eps = check_eps(eps)
        self.randomized = is_randomized(model)
        self.images, self.labels = images, labels
        self.radii = torch.tensor(self.eps, dtype=images.dtype, device=images.device)
        self.fooled = torch.zeros(len(self.eps), len(images), dtype=torch.bool, device=images.device)
        self.abs_change = torch.zeros(len(self.eps), len(images), dtype=torch.float64, device=images.device)
        self.generator = torch.Generator().manual_seed(seed)
        self.rows = self._rows(pending)

    def _rows(self, pending: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        # Image-major, so that the eps values of one image share a chunk.
        n_eps, n = self.fooled.shape
        device = self.images.device
        rows_image, rows_level = torch.arange(n, device=device).repeat_interleave(n_eps), torch.arange(n_eps, device=device).repeat(n)
        if pending is None:
            return rows_image, rows_level
        keep = pending.to(device)[rows_level, rows_image]
        return rows_image[keep], rows_level[keep]

    def _unsettled(self, rows_image: torch.Tensor, rows_level: torch.Tensor) -> torch.Tensor:
        return ~self.fooled[rows_level, rows_image]

    def unsettled_rows(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows not fooled yet (image and eps indices): what a new pass (a restart) attacks."""
        keep = self._unsettled(*self.rows)
        return self.rows[0][keep], self.rows[1][keep]

    def chunks(self, rows: tuple[torch.Tensor, torch.Tensor], batch_size: int) -> Iterator[Chunk]:
        """``rows`` in chunks of ``batch_size``, each without the rows settled meanwhile."""
        rows_image, rows_level = rows
        for start in range(0, len(rows_image), batch_size):
            chunk_image, chunk_level = rows_image[start : start + batch_size], rows_level[start : start + batch_size]
            keep = self._unsettled(chunk_image, chunk_level)
            if keep.any():
                image, level = chunk_image[keep], chunk_level[keep]
                yield Chunk(
                    start, start + len(chunk_image), image, level, self.images[image], self.labels[image],
                    self.radii[level].view(-1, 1, 1, 1),
                )

    def record(self, chunk: Chunk, examples: torch.Tensor, success: torch.Tensor) -> torch.Tensor:
        """Mark the rows ``success`` marks as fooled by ``examples`` (carried to the larger eps
        of the same image) and return which rows of the chunk are still unsettled."""
        change = absolute_change(examples, self.images[chunk.image])
        self.abs_change[chunk.level, chunk.image] = torch.where(success, change, self.abs_change[chunk.level, chunk.image])
        image, level = chunk.image[success], chunk.level[success]
        for k in range(self.fooled.shape[0]):
            newly = (level <= k) & ~self.fooled[k, image]
            self.fooled[k, image[newly]] = True
            self.abs_change[k, image[newly]] = change[success][newly]
        return self._unsettled(chunk.image, chunk.level)

    def finish(self, chunk: Chunk, examples: torch.Tensor, success: torch.Tensor) -> None:
        """Rows the attack is done with: their last example's change, and whether it succeeded."""
        self.abs_change[chunk.level, chunk.image] = absolute_change(examples, chunk.clean)
        self.record(chunk, examples, success)

    def judge(self, model: nn.Module, chunk: Chunk, examples: torch.Tensor) -> None:
        """Judge the rows still unbroken after the last iterate by one forward pass (one fresh
        noise draw for a random defense); unbroken rows report their last iterate's change."""
        if not len(chunk):
            return
        with torch.inference_mode():
            final = model(examples.contiguous(memory_format=torch.channels_last)).argmax(1)
        self.finish(chunk, examples, final != chunk.truth)

    def outcome(self) -> AttackOutcome:
        return AttackOutcome(self.eps, self.fooled.cpu(), self.abs_change.cpu())
