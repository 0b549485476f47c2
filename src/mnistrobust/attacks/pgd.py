"""L-inf PGD with random start and restarts, and EOT-PGD for randomized defenses."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..config import PGDSettings
from ..progress import Log, Progress, silent
from .core import AttackOutcome, evaluating, fixed_examples_outcome, input_gradient
from .rows import Chunk, RowScheduler
from .steps import LinfStep, ascend


class PGD:
    """Signed-gradient ascent steps, each projected onto the eps ball and clipped to [0, 1].

    ``eot_samples`` > 1 averages each step's gradient over that many noise draws of a
    random defense (EOT-PGD, Athalye et al. 2018).
    """

    def __init__(self, settings: PGDSettings, seed: int = 0, batch_size: int = 1000, eot_samples: int = 1, log: Log = silent):
        self.settings, self.seed, self.batch_size, self.eot_samples, self.log = settings, seed, batch_size, eot_samples, log
        self.name = "pgd" if eot_samples == 1 else f"eot_pgd ({eot_samples} draws)"

    def examples(
        self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Plain PGD for one batch and one eps, all steps, one restart: the examples for
        adversarial training and for transfer. Runs the model in eval mode. ``eps`` comes
        from a checked config (schema ranges, ``check_eps``)."""
        clean = x.detach()
        step = LinfStep(clean, eps, self.settings.step_for(eps))
        if self.settings.random_start:
            start = step.random_start(generator if generator is not None else torch.Generator().manual_seed(0))
        else:
            start = clean.clone()
        with evaluating(model):
            return ascend(model, step, start, y, self.settings.steps, self.eot_samples).detach()

    def example_sets(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: Sequence[float]) -> torch.Tensor:
        """Full-length examples (one restart) of a whole set at every eps: eps x images x 1 x 28 x 28."""
        generator = torch.Generator().manual_seed(self.seed)
        size = self.batch_size
        progress = Progress(f"{self.name} examples ({self.settings.steps} steps): images x eps", len(images) * len(eps), self.log)
        sets = []
        for k, e in enumerate(eps):
            batches = []
            for i in range(0, len(images), size):
                batches.append(self.examples(model, images[i : i + size], labels[i : i + size], e, generator))
                progress.update(k * len(images) + min(i + size, len(images)))
            sets.append(torch.cat(batches))
        return torch.stack(sets)

    def outcome(
        self, scored: nn.Module, attacked: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: Sequence[float],
        pending: torch.Tensor | None = None,
    ) -> AttackOutcome:
        """White-box (``attacked`` is ``scored``): every restart, early exit per row, on the
        ``pending`` rows only where given. Oblivious (``attacked`` is the classifier alone):
        full-length examples of every row, scored on the method."""
        if attacked is not scored:
            examples = self.example_sets(attacked, images, labels, eps)
            return fixed_examples_outcome(scored, images, labels, examples, eps, self.batch_size)
        return self.white_box_outcome(scored, images, labels, eps, pending)

    def white_box_outcome(
        self,
        model: nn.Module,
        images: torch.Tensor,
        labels: torch.Tensor,
        eps: Sequence[float],
        pending: torch.Tensor | None = None,
    ) -> AttackOutcome:
        """PGD with random start and restarts at every eps, as one batch of (image, eps) rows
        (those ``pending`` marks, eps x images, where given; the others are left unfooled).

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
        settings = self.settings
        rows = RowScheduler(model, images, labels, eps, pending, self.seed)
        with evaluating(model):
            for restart in range(settings.restarts):
                todo = rows.unsettled_rows()
                self.log(f"restart {restart + 1}/{settings.restarts}: {len(todo[0])} of {len(rows.rows[0])} (image, eps) rows unsettled")
                progress = Progress(f"{self.name} restart {restart + 1}/{settings.restarts}: rows", len(todo[0]), self.log)
                for chunk in rows.chunks(todo, max(1, self.batch_size // self.eot_samples)):
                    self._attack_chunk(model, rows, chunk)
                    progress.update(chunk.end)
        return rows.outcome()

    def _attack_chunk(self, model: nn.Module, rows: RowScheduler, chunk: Chunk) -> None:
        """One restart on one chunk, each row dropped once fooled; the last iterates of the rest are judged."""
        settings = self.settings
        step = LinfStep(chunk.clean, chunk.radius, settings.step_for(chunk.radius))
        current = step.random_start(rows.generator) if settings.random_start else chunk.clean.clone()
        for _ in range(settings.steps):
            grad, log_probs = input_gradient(model, current, chunk.truth, self.eot_samples, channels_last=True)
            if not rows.randomized:
                success = log_probs.argmax(1) != chunk.truth
                if success.any():
                    keep = rows.record(chunk, current, success)
                    chunk, step, current, grad = chunk[keep], step[keep], current[keep], grad[keep]
                    if len(chunk) == 0:
                        break
            current = step.step(current, grad)
        rows.judge(model, chunk, current)
