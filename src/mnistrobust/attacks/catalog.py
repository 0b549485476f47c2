"""The strong attacks by name, in the registry's order, with the traits the evaluation plans
by and the report orders its columns by. Torch-free, so that the report reads it without
loading torch; ``registry.py`` builds the attacks in this order (a test holds the two and the schema's
``strong_attacks.attacks`` enum equal)."""

from __future__ import annotations

import dataclasses

from ..config import THREAT_MODELS


@dataclasses.dataclass(frozen=True)
class Traits:
    """How an attack enters a method's plan.

    ``threat_models``: also run under the method's other threat models (``oblivious``, ``bpda``);
    ``per_source``: one column per other method whose stored examples it scores (transfer);
    ``cascaded``: costly, so run after every other attack, and under ``strong_attacks.cascade``
    only on the (image, eps) rows still robust; ``randomized_only``: run only against a
    method that draws fresh noise per pass.
    """

    threat_models: bool = False
    per_source: bool = False
    cascaded: bool = False
    randomized_only: bool = False


ATTACKS: dict[str, Traits] = {
    "fgsm": Traits(threat_models=True),
    "pgd": Traits(threat_models=True),
    "eot_pgd": Traits(cascaded=True, randomized_only=True),
    "square": Traits(cascaded=True),
    "transfer": Traits(per_source=True),
    "autoattack": Traits(cascaded=True),
}
ATTACK_NAMES = tuple(ATTACKS)
# The costly attacks, in the order they run last: a cascaded one's column is the worst case
# up to it, as AutoAttack reports its components.
CASCADED_ATTACKS = tuple(name for name, traits in ATTACKS.items() if traits.cascaded)


def label(attack: str, threat: str = "end_to_end") -> str:
    """A table column: the attack's name, with the threat model's unless end to end."""
    return attack if threat == "end_to_end" else f"{attack}_{threat}"


# The columns of the attacks run under every threat model, threat by threat: fgsm, pgd,
# fgsm_oblivious, pgd_oblivious, fgsm_bpda, pgd_bpda.
THREAT_COLUMNS = tuple(label(name, threat) for threat in THREAT_MODELS for name, traits in ATTACKS.items() if traits.threat_models)

# One row of a strong evaluation's results, as the evaluation writes it and the report reads it.
RESULT_COLUMNS = ["method", "attack", "eps", "error", "dist", "added", "images"]
ROBUST = "robust"  # the per-example worst case over every attack that ran
