"""The gradient-free Square attack (Andriushchenko et al. 2020), the field's check for masked gradients."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..config import SquareSettings, check_eps
from ..progress import Progress, silent
from ..progress import Log
from .core import AttackOutcome, Successes, is_randomized, margin


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
        model, settings = scored, self.settings
        eps = check_eps(eps)
        randomized = is_randomized(model)
        model.eval()
        device, height = images.device, images.shape[-1]
        eps_tensor = torch.tensor(eps, dtype=images.dtype, device=device)
        successes = Successes(images, len(eps))
        generator = torch.Generator().manual_seed(self.seed)
        rows_image, rows_eps = successes.rows(pending)
        self.log(f"square: {len(rows_image)} (image, eps) rows, {settings.queries} queries")

        def signs(shape) -> torch.Tensor:
            return (2 * torch.randint(0, 2, shape, generator=generator) - 1).to(device, images.dtype)

        @torch.inference_mode()
        def margins(x, truth):
            return margin(model(x.contiguous(memory_format=torch.channels_last)), truth)

        progress = Progress(f"square ({settings.queries} queries): rows", len(rows_image), self.log)
        for start, end, chunk_image, chunk_eps in successes.chunks(rows_image, rows_eps, self.batch_size):
            clean, truth = images[chunk_image], labels[chunk_image]
            radius = eps_tensor[chunk_eps].view(-1, 1, 1, 1)
            best = (clean + radius * signs((len(clean), 1, 1, height))).clamp(0.0, 1.0)
            best_margin = margins(best, truth)
            for query in range(settings.queries):
                progress.update(start + (end - start) * query // settings.queries)
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
                successes.record_last(chunk_image, chunk_eps, clean, best, best_margin < 0)
            progress.update(end)
        return successes.outcome(eps)
