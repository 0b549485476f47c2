"""Perturbations and attacks, each one small class on one core (``core.py``: the input
gradient with EOT, projection and clipping, Eq. 2, predictions).

``STRONG_ATTACKS`` is the registry the strong-attack evaluation builds its attacks from,
by the names ``config.yaml``'s ``strong_attacks.attacks`` uses. Every attack there has
``outcome(scored, attacked, images, labels, eps)``: ``scored`` is the deployed method,
``attacked`` the network whose gradient the attacker follows (the method itself, or its
classifier alone under the oblivious threat model).
"""

from __future__ import annotations

from collections.abc import Callable

from ..config import StrongAttackSettings
from .autoattack import AutoAttack
from ..progress import Log
from .core import AttackOutcome
from .fgsm import FGSM, Eq3
from .noise import GaussianNoise
from .pgd import PGD
from .square import Square
from .transfer import Transfer

StrongAttackBuilder = Callable[[StrongAttackSettings, Log], object]

# Transfer is not here: it is built per source, from that source's stored examples.
STRONG_ATTACKS: dict[str, StrongAttackBuilder] = {
    "fgsm": lambda settings, log: FGSM(settings.batch_size),
    "pgd": lambda settings, log: PGD(settings.pgd, settings.seed, settings.batch_size, log=log),
    "eot_pgd": lambda settings, log: PGD(settings.pgd, settings.seed, settings.batch_size, settings.eot_samples, log=log),
    "square": lambda settings, log: Square(settings.square, settings.seed, settings.batch_size, log=log),
    "autoattack": lambda settings, log: AutoAttack(settings.autoattack, settings.seed, settings.batch_size, log=log),
}

__all__ = ["AttackOutcome", "AutoAttack", "Eq3", "FGSM", "GaussianNoise", "PGD", "STRONG_ATTACKS", "Square", "Transfer"]
