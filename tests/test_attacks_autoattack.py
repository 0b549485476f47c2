"""Tests for mnistrobust.attacks.autoattack: AutoAttack from torchattacks' components at the
paper's budget and the rand version for randomized methods (the schema checks its settings:
test_config.py)."""

from __future__ import annotations

import torch
import torchattacks
from torch import nn

from mnistrobust.attacks import STRONG_ATTACKS, AutoAttack
from mnistrobust.attacks.fgsm import FGSM
from mnistrobust.config import AutoAttackSettings, StrongAttackSettings
from mnistrobust.evaluation.strong import attack_plan, evaluate_networks
from mnistrobust.io.resume import ResumeFolder
from mnistrobust.nets.defenses import LowPassFilter
from mnistrobust.nets.models import Stacked
from mnistrobust.reports.strong import check_flags

from model_support import STRONG_ATTACKS_SECTION, labelled_by, zero_bias_linear_classifier

FAST = AutoAttackSettings(steps=10, square_queries=200, eot_samples=2)


class _Binarize(nn.Module):
    """Rounds pixels to 0 or 1: a zero gradient everywhere, the textbook masked gradient."""

    def forward(self, x):
        return torch.round(x)


def test_standard_components_run_at_the_configured_budget_not_torchattacks_default():
    model = zero_bias_linear_classifier(1)
    components = AutoAttack(AutoAttackSettings()).components(model, 0.3, "standard")
    assert [type(c) for c in components] == [torchattacks.APGD, torchattacks.APGDT, torchattacks.FAB, torchattacks.Square]
    assert [c.steps for c in components[:3]] == [100, 100, 100]  # torchattacks' AutoAttack leaves them at 10
    assert components[0].loss == "ce" and components[2].multi_targeted
    assert components[3].n_queries == 5000
    assert all(c.eps == 0.3 for c in components)
    rand = AutoAttack(AutoAttackSettings()).components(model, 0.3, "rand")
    assert [(type(c), c.loss, c.eot_iter) for c in rand] == [(torchattacks.APGD, "ce", 20), (torchattacks.APGD, "dlr", 20)]


def test_a_randomized_method_gets_the_rand_version():
    attack = AutoAttack(AutoAttackSettings())
    assert attack.version_for(zero_bias_linear_classifier(1)) == "standard"
    noisy = Stacked(LowPassFilter(3, 1.3, noise_sigma=0.1, seed=0), zero_bias_linear_classifier(1))
    assert attack.version_for(noisy) == "rand"


def test_autoattack_is_at_least_as_strong_as_fgsm_and_stays_in_the_ball():
    model = zero_bias_linear_classifier(2)
    x, y = labelled_by(model, n=20, seed=2)
    attack = AutoAttack(FAST, seed=0, batch_size=8)
    examples = attack.examples(model, x, y, 0.05)
    assert (examples - x).abs().max() <= 0.05 + 1e-6 and examples.min() >= 0 and examples.max() <= 1
    eps = [0.02, 0.05]
    autoattack = attack.outcome(model, model, x, y, eps)
    fgsm = FGSM(batch_size=8).outcome(model, model, x, y, eps)
    assert autoattack.error()[1] > 0.3
    assert all(a >= f for a, f in zip(autoattack.error(), fgsm.error()))


def test_autoattack_exits_early_per_point_across_eps_and_attacks_only_pending_rows():
    model = zero_bias_linear_classifier(2)
    x, y = labelled_by(model, n=20, seed=2)
    lines: list[str] = []
    attack = AutoAttack(FAST, seed=0, batch_size=8, log=lines.append)
    outcome = attack.outcome(model, model, x, y, [0.02, 0.05])
    fooled_small = int(outcome.fooled[0].sum())
    assert 0 < fooled_small < 20
    # The points fooled at eps 0.02 count at 0.05 without another attack there.
    assert outcome.fooled[1][outcome.fooled[0]].all()
    assert lines[0] == "autoattack eps 0.02: 20 of 20 images to attack"
    assert f"autoattack eps 0.05: {20 - fooled_small} of 20 images to attack" in lines
    pending = torch.zeros(2, 20, dtype=torch.bool)
    pending[:, :5] = True
    lines.clear()
    cascaded = attack.outcome(model, model, x, y, [0.02, 0.05], pending=pending)
    assert lines[0] == "autoattack eps 0.02: 5 of 20 images to attack"
    assert not cascaded.fooled[:, 5:].any()


def test_autoattack_finds_what_fgsm_misses_behind_a_masked_gradient_and_the_flag_fires():
    masked = nn.Sequential(_Binarize(), zero_bias_linear_classifier(6)).eval()
    x, _ = labelled_by(masked, n=24, seed=6)
    x = 0.5 + (x - 0.5) * 0.4  # every pixel within 0.2 of the rounding threshold
    y = masked(x).argmax(1)
    section = {**STRONG_ATTACKS_SECTION, "eps": [0.25], "attacks": ["fgsm", "pgd", "autoattack"]}
    settings = StrongAttackSettings.from_config({**section, "autoattack": {"steps": 5, "square_queries": 60}})
    table = evaluate_networks("masked", masked, {}, x, y, settings, {}, log=lambda _: None)
    at_eps = table[table["eps"] == 0.25].set_index("attack")
    errors, added = at_eps["error"].to_dict(), at_eps["added"].to_dict()
    # FGSM and APGD see a zero gradient; AutoAttack's Square does not need one. In the cascade
    # it runs on the images PGD's random starts left robust, and fools them.
    assert errors["fgsm"] == 0 and added["autoattack"] > 0.1 and errors["autoattack"] == errors["robust"] == 1.0
    assert "autoattack fooled images every other attack missed" in check_flags(errors, 0.25, settings, added)
    # Each attack on every row: AutoAttack's own error, judged against PGD's.
    uncascaded = StrongAttackSettings.from_config({**section, "cascade": False, "autoattack": {"steps": 5, "square_queries": 60}})
    table = evaluate_networks("masked", masked, {}, x, y, uncascaded, {}, log=lambda _: None)
    errors = table[table["eps"] == 0.25].set_index("attack")["error"].to_dict()
    assert errors["autoattack"] > errors["pgd"] + 0.1
    assert "autoattack stronger than pgd" in check_flags(errors, 0.25, uncascaded)


def test_the_registry_and_the_plan_know_autoattack():
    settings = StrongAttackSettings.from_config({**STRONG_ATTACKS_SECTION, "attacks": ["pgd", "autoattack"]})
    assert isinstance(STRONG_ATTACKS["autoattack"](settings, print, None), AutoAttack)
    labels = [planned.label for planned in attack_plan(settings, ["oblivious"], False, "lowpass5_lenet")]
    assert labels == ["pgd", "pgd_oblivious", "autoattack"]  # end to end only


class _DictStore:
    """An in-memory ExampleStore, keyed as ResumeFolder keys, that counts what it was asked."""

    def __init__(self):
        self.kept, self.hits, self.key = {}, 0, ResumeFolder.key

    def get(self, key):
        self.hits += key in self.kept
        return self.kept.get(key)

    def put(self, key, tensor):
        self.kept[key] = tensor.clone()


def test_a_stored_chunk_is_the_one_a_straight_run_computes_and_is_not_computed_again(monkeypatch):
    model = zero_bias_linear_classifier(2)
    x, y = labelled_by(model, n=12, seed=3)
    straight = AutoAttack(FAST, seed=0, batch_size=5).examples(model, x, y, 0.05)
    store = _DictStore()
    first = AutoAttack(FAST, seed=0, batch_size=5, store=store).examples(model, x, y, 0.05)
    assert torch.equal(first, straight) and len(store.kept) == 3 and store.hits == 0  # chunks of 5, 5, 2

    def no_attack(*args, **kwargs):
        raise AssertionError("a stored chunk was attacked again")

    monkeypatch.setattr(torchattacks.MultiAttack, "forward", no_attack)
    resumed = AutoAttack(FAST, seed=0, batch_size=5, store=store).examples(model, x, y, 0.05)
    assert torch.equal(resumed, straight) and store.hits == 3


def test_a_random_defense_keeps_no_chunks():
    noisy = Stacked(LowPassFilter(3, 1.3, noise_sigma=0.1, seed=0), zero_bias_linear_classifier(1))
    x, y = labelled_by(noisy, n=4, seed=1)
    store = _DictStore()
    AutoAttack(FAST, seed=0, batch_size=4, store=store).examples(noisy, x, y, 0.05)
    assert store.kept == {}
