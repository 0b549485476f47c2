"""The gradient-free Square attack (Andriushchenko et al. 2020), the field's check for masked gradients."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..config import SquareSettings
from ..progress import Log, Progress, silent
from .core import AttackOutcome, clip_unit, evaluating, margin
from .rows import Chunk, RowScheduler


def _patch_masks(rows: int, side: int, height: int, generator: torch.Generator, device) -> torch.Tensor:
    """One random side x side square per row, as a rows x 1 x height x height bool mask."""
    top, left = (torch.randint(0, height - side + 1, (rows,), generator=generator) for _ in range(2))
    ruler = torch.arange(height)
    in_rows = (ruler >= top[:, None]) & (ruler < top[:, None] + side)
    in_cols = (ruler >= left[:, None]) & (ruler < left[:, None] + side)
    return (in_rows[:, :, None] & in_cols[:, None, :]).unsqueeze(1).to(device)


class Square:
    """Starts from vertical stripes of +-eps, then each query redraws one square of the
    perturbation to a single random sign and keeps it when the margin drops. Being
    gradient-free, a defense that withstands PGD but not this has gradients that mislead,
    not robustness. A deterministic model is fooled at the first query with a negative
    margin; a random one is judged on the final example with one fresh noise draw (as PGD
    judges it)."""

    name = "square"

    def __init__(self, settings: SquareSettings, seed: int = 0, batch_size: int = 1000, log: Log = silent):
        self.settings, self.seed, self.batch_size, self.log = settings, seed, batch_size, log

    def outcome(
        self, scored: nn.Module, attacked: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: Sequence[float],
        pending: torch.Tensor | None = None,
    ) -> AttackOutcome:
        """Black-box: queries ``scored`` only (``attacked`` is not used); only the ``pending``
        (image, eps) rows (eps x images) where given."""
        rows = RowScheduler(scored, images, labels, eps, pending, self.seed)
        self.log(f"square: {len(rows.rows[0])} (image, eps) rows, {self.settings.queries} queries")
        progress = Progress(f"square ({self.settings.queries} queries): rows", len(rows.rows[0]), self.log)
        with evaluating(scored):
            for chunk in rows.chunks(rows.rows, self.batch_size):
                self._attack_chunk(scored, rows, chunk, progress)
                progress.update(chunk.end)
        return rows.outcome()

    def _attack_chunk(self, model: nn.Module, rows: RowScheduler, chunk: Chunk, progress: Progress) -> None:
        """Every query on one chunk, each row of a deterministic model dropped once fooled."""
        settings, generator = self.settings, rows.generator
        device, dtype, height = chunk.clean.device, chunk.clean.dtype, chunk.clean.shape[-1]
        start, end = chunk.start, chunk.end

        def signs(shape) -> torch.Tensor:
            return (2 * torch.randint(0, 2, shape, generator=generator) - 1).to(device, dtype)

        @torch.inference_mode()
        def margins(x, truth):
            return margin(model(x.contiguous(memory_format=torch.channels_last)), truth)

        best = clip_unit(chunk.clean + chunk.radius * signs((len(chunk), 1, 1, height)))
        best_margin = margins(best, chunk.truth)
        for query in range(settings.queries):
            progress.update(start + (end - start) * query // settings.queries)
            if not rows.randomized:
                success = best_margin < 0
                if success.any():
                    keep = rows.record(chunk, best, success)
                    chunk, best, best_margin = chunk[keep], best[keep], best_margin[keep]
                    if len(chunk) == 0:
                        break
            clean, radius = chunk.clean, chunk.radius
            patch = _patch_masks(len(clean), settings.side(query, height), height, generator, device)
            sign = signs((len(clean), 1, 1, 1))
            candidate = torch.where(patch, clip_unit(clean + radius * sign), best)
            # A patch equal to what is there already would waste the query: flip its sign.
            unchanged = ((candidate - best).abs() * patch).flatten(1).amax(1) == 0
            if unchanged.any():
                flipped = torch.where(patch, clip_unit(clean - radius * sign), best)
                candidate = torch.where(unchanged.view(-1, 1, 1, 1), flipped, candidate)
            candidate_margin = margins(candidate, chunk.truth)
            better = candidate_margin < best_margin
            best = torch.where(better.view(-1, 1, 1, 1), candidate, best)
            best_margin = torch.where(better, candidate_margin, best_margin)
        if rows.randomized:
            rows.judge(model, chunk, best)
        elif len(chunk):
            rows.finish(chunk, best, best_margin < 0)
