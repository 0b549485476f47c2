"""Tests for mnistrobust.attacks.registry and .catalog: one list of attack names, in one
order, shared by the registry, the torch-free catalog, the config and the schema; every
registered attack implements StrongAttack, ``pending`` included."""

from __future__ import annotations

import inspect

import pytest
import torch

from mnistrobust.attacks import FGSM, STRONG_ATTACKS, StrongAttack
from mnistrobust.attacks.catalog import ATTACK_NAMES, ATTACKS, CASCADED_ATTACKS, THREAT_COLUMNS
from mnistrobust.attacks.core import gradient_sign
from mnistrobust.attacks.registry import Source
from mnistrobust.config import StrongAttackSettings

from model_support import STRONG_ATTACKS_SECTION, labelled_by, quiet, zero_bias_linear_classifier

EPS = [0.002, 0.005, 0.01]


def test_the_registry_builds_the_catalog_s_attacks_in_its_order():
    # the schema's enum is held to the catalog in test_schema_enums.py
    assert tuple(STRONG_ATTACKS) == ATTACK_NAMES


def test_the_catalog_derives_the_cascade_and_the_threat_columns():
    assert CASCADED_ATTACKS == tuple(name for name in ATTACK_NAMES if ATTACKS[name].cascaded) == ("eot_pgd", "square", "autoattack")
    assert THREAT_COLUMNS == ("fgsm", "pgd", "fgsm_oblivious", "pgd_oblivious", "fgsm_bpda", "pgd_bpda")


def _settings() -> StrongAttackSettings:
    return StrongAttackSettings.from_config({**STRONG_ATTACKS_SECTION, "attacks": list(ATTACK_NAMES), "batch_size": 7})


def _source(model, images: torch.Tensor, labels: torch.Tensor) -> Source:
    """FGSM examples of ``model`` itself, stored as another method's would be: they fool it."""
    sign = gradient_sign(model, images, labels)
    return Source("other", torch.stack([FGSM.perturb(images, sign, e) for e in EPS]))


@pytest.mark.parametrize("name", ATTACK_NAMES)
def test_every_registered_attack_implements_the_interface_pending_included(name):
    model = zero_bias_linear_classifier(1)
    images, labels = labelled_by(model, 4)
    attack = STRONG_ATTACKS[name](_settings(), quiet, _source(model, images, labels))
    assert isinstance(attack, StrongAttack) and isinstance(attack.name, str)
    pending = inspect.signature(attack.outcome).parameters["pending"]
    assert pending.default is None


@pytest.mark.parametrize("name", [name for name in ATTACK_NAMES if name != "autoattack"])  # AutoAttack: test_attacks_autoattack.py
def test_every_attack_reports_the_rows_pending_leaves_out_unfooled_and_unchanged(name):
    model = zero_bias_linear_classifier(1)
    images, labels = labelled_by(model, 12, seed=1)
    attack = STRONG_ATTACKS[name](_settings(), quiet, _source(model, images, labels))
    full = attack.outcome(model, model, images, labels, EPS)
    assert full.fooled.any()  # else the check below could not fail
    pending = torch.zeros(len(EPS), len(images), dtype=torch.bool)
    pending[:, ::2] = True
    part = attack.outcome(model, model, images, labels, EPS, pending=pending)
    assert not part.fooled[~pending].any() and (part.abs_change[~pending] == 0).all()
    assert (part.abs_change[pending] > 0).all()  # the pending rows were attacked
    if name in ("fgsm", "transfer"):  # fixed examples: the pending rows score as in the full run
        assert torch.equal(part.fooled[pending], full.fooled[pending])
