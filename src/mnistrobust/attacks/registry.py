"""The registry the strong-attack evaluation builds its attacks from, by the names
``config.yaml``'s ``strong_attacks.attacks`` uses, in ``catalog.ATTACK_NAMES``' order, and
the interface every attack there implements."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from ..config import StrongAttackSettings
from ..progress import Log
from .autoattack import AutoAttack, ExampleStore
from .core import AttackOutcome
from .fgsm import FGSM
from .pgd import PGD
from .square import Square
from .transfer import Transfer


@runtime_checkable
class StrongAttack(Protocol):
    """``scored`` is the deployed method, ``attacked`` the network whose gradient the attacker
    follows (the method itself, or its classifier alone under the oblivious threat model);
    ``pending`` (bool, eps x images), where given, marks the only rows to attack, and the
    others are reported unfooled."""

    name: str

    def outcome(
        self, scored: nn.Module, attacked: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: Sequence[float],
        pending: torch.Tensor | None = None,
    ) -> AttackOutcome: ...


@dataclasses.dataclass(frozen=True)
class Source:
    """Another method's stored examples (eps x images x 1 x 28 x 28), for transfer."""

    name: str
    examples: torch.Tensor


# (settings, log, the transfer source or None, where a costly attack keeps its progress or None)
StrongAttackBuilder = Callable[[StrongAttackSettings, Log, Source | None, ExampleStore | None], StrongAttack]

STRONG_ATTACKS: dict[str, StrongAttackBuilder] = {
    "fgsm": lambda settings, log, source, store=None: FGSM(settings.batch_size),
    "pgd": lambda settings, log, source, store=None: PGD(settings.pgd, settings.seed, settings.batch_size, log=log),
    "eot_pgd": lambda settings, log, source, store=None: PGD(
        settings.pgd, settings.seed, settings.batch_size, settings.eot_samples, log=log
    ),
    "square": lambda settings, log, source, store=None: Square(settings.square, settings.seed, settings.batch_size, log=log),
    "transfer": lambda settings, log, source, store=None: Transfer(source.name, source.examples, settings.batch_size),
    "autoattack": lambda settings, log, source, store=None: AutoAttack(
        settings.autoattack, settings.seed, settings.batch_size, log=log, store=store
    ),
}
