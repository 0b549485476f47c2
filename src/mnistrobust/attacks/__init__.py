"""Perturbations and attacks, each one small class on one core (``core.py``: the input
gradient with EOT, projection and clipping, Eq. 2, predictions, eval mode). The gradient
attacks take one L-inf step (``steps.py``); PGD and Square run on one (image, eps) row
scheduler (``rows.py``).

``STRONG_ATTACKS`` (``registry.py``) builds the strong-attack evaluation's attacks by the
names ``config.yaml``'s ``strong_attacks.attacks`` uses, in the order ``catalog.py`` gives
with their traits; each implements ``StrongAttack``.

The names below load on first use: ``catalog`` is torch-free, and the report imports it
without paying for torch, which every other module here loads.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_HOMES = {
    "AttackOutcome": "core",
    "AutoAttack": "autoattack",
    "Eq3": "fgsm",
    "FGSM": "fgsm",
    "GaussianNoise": "noise",
    "PGD": "pgd",
    "STRONG_ATTACKS": "registry",
    "Square": "square",
    "StrongAttack": "registry",
    "Transfer": "transfer",
}

__all__ = [
    "AttackOutcome", "AutoAttack", "Eq3", "FGSM", "GaussianNoise", "PGD", "STRONG_ATTACKS", "Square", "StrongAttack", "Transfer",
]

if TYPE_CHECKING:
    from .autoattack import AutoAttack
    from .core import AttackOutcome
    from .fgsm import FGSM, Eq3
    from .noise import GaussianNoise
    from .pgd import PGD
    from .registry import STRONG_ATTACKS, StrongAttack
    from .square import Square
    from .transfer import Transfer


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
