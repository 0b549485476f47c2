"""AutoAttack (Croce & Hein 2020), the field's standard evaluation, from torchattacks'
components.

torchattacks 3.5.1's own ``AutoAttack`` builds APGD, APGD-T and FAB with their default
10 iterations (its issue #196), a tenth of the paper's budget; here the same components
run at ``AutoAttackSettings.steps`` (100 by default, as in the paper) and Square at
``square_queries`` (5,000). Each component attacks only the points the previous ones left
robust (torchattacks' ``MultiAttack``), so the outcome is the worst case over all four.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch
from torch import nn

from ..config import AutoAttackSettings, check_eps
from ..progress import Log, Progress, silent
from .core import AttackOutcome, absolute_change, evaluating, frozen_parameters, is_randomized, predictions

NUM_CLASSES = 10
# Images per MultiAttack call. On a robust model all four components run on nearly every
# point: a 500-image call took 10 minutes on a loaded 2-core CPU, and a progress line
# comes only between calls, so calls stay small enough for a line about every minute.
PROGRESS_CHUNK = 100


class ExampleStore(Protocol):
    """Examples kept across an interruption (``io.resume.ResumeFolder``), under the key of
    what made them."""

    def key(self, *parts: object) -> str: ...

    def get(self, key: str) -> torch.Tensor | None: ...

    def put(self, key: str, tensor: torch.Tensor) -> None: ...


class AutoAttack:
    """``standard`` for a deterministic method; ``rand`` (APGD-CE and APGD-DLR with EOT) for a
    randomized one, whatever the configured version, as Croce & Hein prescribe.

    ``store``, where given, keeps each chunk's examples of a deterministic method, so that
    an interrupted job takes up where it stopped (a committee's run takes hours on a few
    CPU cores). Every component seeds itself on each call, so a stored chunk is the one a
    straight run computes; a random defense's noise draws depend on the chunks before,
    so its chunks are not kept."""

    name = "autoattack"

    def __init__(
        self, settings: AutoAttackSettings, seed: int = 0, batch_size: int = 1000, log: Log = silent,
        store: ExampleStore | None = None,
    ):
        self.settings, self.seed, self.batch_size, self.log, self.store = settings, seed, batch_size, log, store

    def version_for(self, model: nn.Module) -> str:
        return "rand" if is_randomized(model) else self.settings.version

    def components(self, model: nn.Module, eps: float, version: str) -> list:
        # Imported here: torchattacks pulls in SciPy (about 1 s), which every job that
        # imports the attacks would otherwise pay, used or not.
        import torchattacks

        settings, seed = self.settings, self.seed
        common = {"norm": "Linf", "eps": eps, "seed": seed, "steps": settings.steps, "n_restarts": 1}
        if version == "rand":
            eot = {"eot_iter": settings.eot_samples}
            return [
                torchattacks.APGD(model, loss="ce", **common, **eot),
                torchattacks.APGD(model, loss="dlr", **common, **eot),
            ]
        return [
            torchattacks.APGD(model, loss="ce", **common),
            torchattacks.APGDT(model, n_classes=NUM_CLASSES, **common),
            torchattacks.FAB(model, multi_targeted=True, n_classes=NUM_CLASSES, **common),
            torchattacks.Square(
                model, norm="Linf", eps=eps, seed=seed, n_queries=settings.square_queries, n_restarts=1
            ),
        ]

    def examples(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float) -> torch.Tensor:
        """AutoAttack's examples at one ``eps``: for each point, the first component's example
        that fools ``model``, else the last component's."""
        version = self.version_for(model)
        import torchattacks

        size = min(self.batch_size, PROGRESS_CHUNK)
        store = self.store if version != "rand" else None
        network_key = store.key(model) if store is not None else None  # the weights, hashed once per call
        parts = []
        progress = Progress(f"autoattack ({version}, eps {eps:g}): images", len(images), self.log)
        with evaluating(model), frozen_parameters(model):
            attack = torchattacks.MultiAttack(self.components(model, eps, version))
            for start in range(0, len(images), size):
                chunk, truth = images[start : start + size], labels[start : start + size]
                key = None
                if store is not None:
                    key = store.key(self.name, version, float(eps), self.settings, self.seed, network_key, chunk, truth)
                kept = store.get(key) if key is not None else None
                if kept is None:
                    kept = attack(chunk, truth)
                    if key is not None:
                        store.put(key, kept)
                parts.append(kept.to(images.device))
                progress.update(start + len(parts[-1]))
        return torch.cat(parts)

    def outcome(
        self, scored: nn.Module, attacked: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: Sequence[float],
        pending: torch.Tensor | None = None,
    ) -> AttackOutcome:
        """Examples of ``attacked``, scored on ``scored``, with an early exit per point: eps
        run ascending, and a point fooled at one eps counts at every larger eps (its example
        lies in the larger ball too) without being attacked there. ``pending`` (bool, eps x
        images), where given, marks the only rows to attack (a cascade's rows still robust)."""
        eps = check_eps(eps)
        todo = torch.ones(len(eps), len(images), dtype=torch.bool) if pending is None else pending.cpu()
        fooled = torch.zeros(len(eps), len(images), dtype=torch.bool)
        abs_change = torch.zeros(len(eps), len(images), dtype=torch.float64)
        for k, e in enumerate(eps):
            index = (todo[k] & ~fooled[k]).nonzero().squeeze(1)
            self.log(f"autoattack eps {e:g}: {len(index)} of {len(images)} images to attack")
            if not len(index):
                continue
            on_device = index.to(images.device)
            clean, truth = images[on_device], labels[on_device]
            examples = self.examples(attacked, clean, truth, e)
            wrong = (predictions(scored, examples, self.batch_size) != truth).cpu()
            change = absolute_change(examples, clean).cpu()
            abs_change[k, index] = change
            fooled[k:, index[wrong]] = True
            abs_change[k + 1 :, index[wrong]] = change[wrong]
        return AttackOutcome(eps, fooled, abs_change)
