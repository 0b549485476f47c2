"""Evaluation beyond the paper: a method under every configured attack at several L-inf
eps, and the per-example worst case over attacks ("robust error"). The flags and the
table that joins methods are in ``reports/strong.py``."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import pandas as pd
import torch
from torch import nn

from ..attacks import PGD, STRONG_ATTACKS
from ..attacks.autoattack import ExampleStore
from ..attacks.catalog import ATTACKS, RESULT_COLUMNS, ROBUST, label
from ..attacks.core import is_randomized, predictions
from ..attacks.registry import Source
from ..config import StrongAttackSettings
from ..progress import Log


@dataclasses.dataclass(frozen=True)
class PlannedAttack:
    """One column of the table: an attack under a threat model (``oblivious``: the gradient
    of the classifier without its preprocessing; ``bpda``: a non-differentiable plug-in's
    gradient with the identity for its transformation; their examples are scored on the
    whole method). ``cascaded``: it runs only on the rows the attacks before it left robust."""

    label: str
    attack: str
    threat: str = "end_to_end"
    source: str | None = None  # transfer only
    cascaded: bool = False


def attack_plan(settings: StrongAttackSettings, threats: Sequence[str], randomized: bool, method: str) -> list[PlannedAttack]:
    """The attacks run against a method, in the order they run: every attack that runs on
    all rows (FGSM, PGD and their other threat models, transfer), then the costly ones
    (EOT-PGD, Square, AutoAttack), each group in the registry's order; ``threats``: the
    threat models besides end to end that apply to it (``config.extra_threats``). Against a
    non-differentiable plug-in (``bpda`` applies) the costly attacks follow BPDA's gradient:
    its own is zero almost everywhere, so APGD and FAB would spend their whole budget
    standing still (Athalye et al. 2018; Croce & Hein 2020 on adaptive evaluation)."""
    chosen = [(name, traits) for name, traits in ATTACKS.items() if name in settings.attacks]
    plan = []
    for name, traits in chosen:
        if traits.cascaded:
            continue
        if traits.per_source:
            plan.extend(
                PlannedAttack(f"{name}_{source}", name, source=source) for source in settings.transfer_sources if source != method
            )
            continue
        plan.append(PlannedAttack(name, name))
        if traits.threat_models:
            plan.extend(PlannedAttack(label(name, threat), name, threat) for threat in threats)
    costly_threat = "bpda" if "bpda" in threats else "end_to_end"
    for name, traits in chosen:
        if traits.cascaded and (randomized or not traits.randomized_only):
            plan.append(PlannedAttack(name, name, costly_threat, cascaded=settings.cascade))
    return plan


def carried_to_larger_eps(fooled: torch.Tensor) -> torch.Tensor:
    """An image fooled at one eps is fooled at every larger one (eps x images, eps ascending):
    the example that did it lies inside the larger ball too."""
    return fooled.cummax(dim=0).values


def evaluate_networks(
    method: str,
    network: nn.Module,
    attacked_networks: Mapping[str, nn.Module],
    images: torch.Tensor,
    labels: torch.Tensor,
    settings: StrongAttackSettings,
    transfer: Mapping[str, torch.Tensor],
    log: Log = print,
    store: ExampleStore | None = None,
) -> pd.DataFrame:
    """Tidy results (RESULT_COLUMNS) of every planned attack and of the per-example worst case.

    ``attacked_networks`` maps each threat model besides end to end that applies to the
    method to the network its attacker differentiates (e.g. ``oblivious``: the classifier
    without its preprocessing).
    ``transfer`` maps a source name to its stored examples. Clean misclassifications count
    as failures at every eps in the worst case, and an image fooled at one eps at every
    larger eps. ``added`` is the share of images an attack fooled that no attack before it
    had; a cascaded attack's ``error`` is the worst case up to and including it.
    ``store``: where AutoAttack keeps its progress (``attacks.autoattack``).
    """
    eps = settings.all_eps
    pixels = images[0].numel()
    clean_wrong = (predictions(network, images, settings.batch_size) != labels).cpu()
    rows = [{"method": method, "attack": "clean", "eps": 0.0, "error": clean_wrong.double().mean().item(), "dist": 0.0, "added": 0.0}]
    worst = clean_wrong.expand(len(eps), -1).clone()
    for planned in attack_plan(settings, list(attacked_networks), is_randomized(network), method):
        source = Source(planned.source, transfer[planned.source]) if planned.source is not None else None
        attack = STRONG_ATTACKS[planned.attack](settings, log, source, store)
        attacked = network if planned.threat == "end_to_end" else attacked_networks[planned.threat]
        if planned.cascaded:
            log(f"{method} {planned.label}: {int((~worst).sum())} of {worst.numel()} (image, eps) rows still robust")
        outcome = attack.outcome(network, attacked, images, labels, eps, pending=~worst if planned.cascaded else None)
        fooled = carried_to_larger_eps(outcome.fooled)
        added = (fooled & ~worst).double().mean(1).tolist()
        worst |= fooled
        error = worst.double().mean(1).tolist() if planned.cascaded else outcome.error()
        dist = outcome.dist(pixels)
        for k, e in enumerate(eps):
            rows.append({"method": method, "attack": planned.label, "eps": e, "error": error[k], "dist": dist[k], "added": added[k]})
        log(
            f"{method} {planned.label}{' (worst case so far)' if planned.cascaded else ''}: "
            + ", ".join(f"eps {e:g}: {100 * err:.1f}% (+{100 * new:.1f})" for e, err, new in zip(eps, error, added))
        )
    for k, e in enumerate(eps):
        rows.append({"method": method, "attack": ROBUST, "eps": e, "error": worst[k].double().mean().item(), "dist": math.nan, "added": 0.0})
    log(f"{method} robust error: " + ", ".join(f"eps {e:g}: {100 * worst[k].double().mean():.1f}%" for k, e in enumerate(eps)))
    table = pd.DataFrame(rows)
    table["images"] = len(images)
    return table[RESULT_COLUMNS]


def transfer_examples(
    network: nn.Module, images: torch.Tensor, labels: torch.Tensor, settings: StrongAttackSettings, source: str, log: Log = print
) -> torch.Tensor:
    """PGD examples of a source method at every eps (all steps, one restart: the strongest
    single example, not the first that fools the source), eps x images x 1 x 28 x 28."""
    attack = PGD(settings.pgd, settings.seed, settings.batch_size)
    examples = attack.example_sets(network, images, labels, settings.all_eps)
    for eps, batch in zip(settings.all_eps, examples):
        fooled = (predictions(network, batch) != labels).float().mean().item()
        log(f"transfer source {source}: eps {eps:g}, error on its own examples {100 * fooled:.2f}%")
    return examples
