"""L-inf PGD with random start and restarts, and EOT-PGD for randomized defenses."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..config import PGDSettings, check_eps
from ..errors import ConfigError
from ..progress import Progress, silent
from ..progress import Log
from .core import AttackOutcome, Successes, fixed_examples_outcome, input_gradient, is_randomized, project, random_start


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
        adversarial training and for transfer. Runs the model in eval mode."""
        if not eps > 0:
            raise ConfigError(f"attack eps must be positive, got {eps}")
        was_training = model.training
        model.eval()
        clean = x.detach()
        if self.settings.random_start:
            current = random_start(clean, eps, generator if generator is not None else torch.Generator().manual_seed(0))
        else:
            current = clean.clone()
        step = self.settings.step_for(eps)
        for _ in range(self.settings.steps):
            grad, _ = input_gradient(model, current, y, self.eot_samples, channels_last=True)
            current = project(current + step * grad.sign(), clean, eps)
        model.train(was_training)
        return current.detach()

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
        eps = check_eps(eps)
        randomized = is_randomized(model)
        model.eval()
        eps_tensor = torch.tensor(eps, dtype=images.dtype, device=images.device)
        successes = Successes(images, len(eps))
        generator = torch.Generator().manual_seed(self.seed)
        all_images, all_eps = successes.rows(pending)

        for restart in range(settings.restarts):
            unsettled = successes.unsettled(all_images, all_eps)
            rows_image, rows_eps = all_images[unsettled], all_eps[unsettled]
            self.log(f"restart {restart + 1}/{settings.restarts}: {len(rows_image)} of {len(all_images)} (image, eps) rows unsettled")
            progress = Progress(f"{self.name} restart {restart + 1}/{settings.restarts}: rows", len(rows_image), self.log)
            for _, end, chunk_image, chunk_eps in successes.chunks(rows_image, rows_eps, max(1, self.batch_size // self.eot_samples)):
                clean, truth = images[chunk_image], labels[chunk_image]
                radius = eps_tensor[chunk_eps].view(-1, 1, 1, 1)
                step = settings.step_for(radius)
                current = random_start(clean, radius, generator) if settings.random_start else clean.clone()
                for _ in range(settings.steps):
                    grad, log_probs = input_gradient(model, current, truth, self.eot_samples, channels_last=True)
                    if not randomized:
                        success = log_probs.argmax(1) != truth
                        if success.any():
                            chunk_image, chunk_eps, clean, truth, radius, current, grad = successes.record_and_drop(
                                chunk_image, chunk_eps, current, success, clean, truth, radius, current, grad
                            )
                            step = settings.step_for(radius)
                            if len(chunk_image) == 0:
                                break
                    current = project(current + step * grad.sign(), clean, radius)
                successes.record_final(model, chunk_image, chunk_eps, clean, truth, current)
                progress.update(end)
        return successes.outcome(eps)
