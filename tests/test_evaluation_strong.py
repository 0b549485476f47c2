"""Tests for mnistrobust.evaluation.strong: which attacks run against a method (the plan),
a method under every planned attack with its per-image worst case ("robust error"), and the
transfer examples of a source method. (The attacks themselves: test_attacks_*.py; the flags
and the table: test_reports_strong.py; the strong_attacks target: test_workflow_strong_attacks.py.)"""

from __future__ import annotations

import torch
from torch import nn

from mnistrobust.attacks import FGSM, PGD
from mnistrobust.config import StrongAttackSettings
from mnistrobust.evaluation.strong import PlannedAttack, attack_plan, evaluate_networks, transfer_examples
from mnistrobust.nets.defenses import LowPassFilter
from mnistrobust.nets.models import Stacked
from mnistrobust.attacks.catalog import RESULT_COLUMNS
from mnistrobust.reports.strong import check_flags

from model_support import STRONG_ATTACKS_SECTION, labelled_by, random_set, zero_bias_linear_classifier

def test_attack_plan_follows_the_method():
    settings = StrongAttackSettings.from_config(STRONG_ATTACKS_SECTION)
    plain = attack_plan(settings, threats=[], randomized=False, method="lenet")
    assert [planned.label for planned in plain] == ["fgsm", "pgd"]
    lowpass = attack_plan(settings, threats=["oblivious"], randomized=True, method="lowpass5_lenet")
    # The attacks that run on every row first, then the costly cascade on the rows left robust.
    assert [planned.label for planned in lowpass] == [
        "fgsm", "fgsm_oblivious", "pgd", "pgd_oblivious", "transfer_lenet", "eot_pgd"
    ]
    assert lowpass == [
        PlannedAttack("fgsm", "fgsm"),
        PlannedAttack("fgsm_oblivious", "fgsm", "oblivious"),
        PlannedAttack("pgd", "pgd"),
        PlannedAttack("pgd_oblivious", "pgd", "oblivious"),
        PlannedAttack("transfer_lenet", "transfer", source="lenet"),
        PlannedAttack("eot_pgd", "eot_pgd", cascaded=True),
    ]
    uncascaded = StrongAttackSettings.from_config({**STRONG_ATTACKS_SECTION, "cascade": False})
    assert not any(p.cascaded for p in attack_plan(uncascaded, threats=[], randomized=True, method="lowpass5_lenet"))
    assert all(planned.threat == "end_to_end" for planned in plain) and all(planned.source is None for planned in plain)
    with_square = StrongAttackSettings.from_config({**STRONG_ATTACKS_SECTION, "attacks": ["pgd", "square"]})
    assert [p.label for p in attack_plan(with_square, threats=[], randomized=False, method="lenet")] == ["pgd", "square"]
    # EOT only against a randomized defense.
    deterministic = attack_plan(settings, threats=["oblivious"], randomized=False, method="lowpass5_lenet")
    assert "eot_pgd" not in [p.label for p in deterministic]
    # Against a non-differentiable plug-in the costly attacks follow BPDA's gradient, under their plain column.
    costly = StrongAttackSettings.from_config({**STRONG_ATTACKS_SECTION, "attacks": ["pgd", "eot_pgd", "square", "autoattack"]})
    plugin = attack_plan(costly, threats=["oblivious", "bpda"], randomized=True, method="bitdepth1_lenet")
    assert [(p.label, p.threat) for p in plugin if p.cascaded] == [("eot_pgd", "bpda"), ("square", "bpda"), ("autoattack", "bpda")]
    assert {p.threat for p in attack_plan(costly, ["oblivious"], True, "lowpass5_lenet") if p.cascaded} == {"end_to_end"}


class _Binarize(nn.Module):
    """Rounds pixels to 0 or 1: its gradient is zero everywhere, the textbook masked gradient."""

    def forward(self, x):
        return torch.round(x)


def test_square_sees_through_masked_gradients_and_the_flag_says_so():
    masked = nn.Sequential(_Binarize(), zero_bias_linear_classifier(6)).eval()
    x, y = labelled_by(masked, n=24, seed=6)
    x = 0.5 + (x - 0.5) * 0.4  # every pixel within 0.2 of the rounding threshold
    y = masked(x).argmax(1)
    settings = StrongAttackSettings.from_config(
        {**STRONG_ATTACKS_SECTION, "eps": [0.1, 0.25], "attacks": ["fgsm", "pgd", "square"], "square": {"queries": 40, "p_init": 0.3}}
    )
    table = evaluate_networks("masked", masked, {}, x, y, settings, {}, log=lambda _: None)
    at_eps = table[table["eps"] == 0.25].set_index("attack")
    errors, added = at_eps["error"].to_dict(), at_eps["added"].to_dict()
    # FGSM sees a zero gradient; PGD gets only what its random start finds by luck; Square,
    # on the images every gradient attack missed, fools more than 10% of all images.
    assert errors["fgsm"] == 0 and added["square"] > 0.1 and errors["square"] == errors["robust"]
    assert "masked gradients" in "; ".join(check_flags(errors, 0.25, settings, added))


def test_worst_case_is_per_image_and_covers_every_attack_and_clean_errors():
    torch.manual_seed(0)
    network = Stacked(LowPassFilter(3, 1.3, noise_sigma=0.1, seed=0), zero_bias_linear_classifier(3)).eval()
    oblivious = network.classifier
    x, y = random_set(24, seed=4)
    settings = StrongAttackSettings.from_config(STRONG_ATTACKS_SECTION)
    transfer = {"lenet": torch.stack([(x + e * torch.randn_like(x).sign()).clamp(0, 1) for e in settings.all_eps])}
    table = evaluate_networks("lp", network, {"oblivious": oblivious}, x, y, settings, transfer, log=lambda _: None)
    assert set(table["attack"]) == {"clean", "fgsm", "fgsm_oblivious", "pgd", "pgd_oblivious", "eot_pgd", "transfer_lenet", "robust"}
    assert (table["images"] == 24).all()
    clean = table.loc[table["attack"] == "clean", "error"].item()
    for eps, group in table[table["attack"] != "clean"].groupby("eps"):
        robust = group.loc[group["attack"] == "robust", "error"].item()
        attacks = group.loc[group["attack"] != "robust", "error"]
        assert robust >= attacks.max() - 1e-12 and robust >= clean
        assert robust <= min(1.0, clean + attacks.sum()) + 1e-12
    dists = table[table["attack"] == "pgd"].sort_values("eps")["dist"].tolist()
    assert all(0 < d <= e for d, e in zip(dists, settings.all_eps))


def test_evaluate_networks_rows_are_tidy_and_the_robust_error_is_the_union():
    model = zero_bias_linear_classifier(7)
    x, y = labelled_by(model, n=12, seed=7)
    settings = StrongAttackSettings.from_config({**STRONG_ATTACKS_SECTION, "attacks": ["fgsm", "pgd"], "eps": [0.002, 0.01]})
    lines: list[str] = []
    table = evaluate_networks("lenet", model, {}, x, y, settings, {}, log=lines.append)
    assert list(table.columns) == RESULT_COLUMNS
    assert list(table["attack"]) == ["clean"] + ["fgsm"] * 3 + ["pgd"] * 3 + ["robust"] * 3
    assert table.loc[table["attack"] == "clean", "error"].item() == 0  # labelled by the model itself
    assert sorted(set(table["eps"])) == [0.0, 0.002, 0.01, 1.0]
    # The robust error is the per-image union of what the attacks fooled, not the largest error.
    fgsm = FGSM(settings.batch_size).outcome(model, model, x, y, settings.all_eps)
    pgd = PGD(settings.pgd, settings.seed, settings.batch_size).white_box_outcome(model, x, y, settings.all_eps)
    union = (fgsm.fooled | pgd.fooled).double().mean(1).tolist()
    for attack, outcome in (("fgsm", fgsm), ("pgd", pgd), ("robust", None)):
        rows = table[table["attack"] == attack].sort_values("eps")
        assert rows["error"].tolist() == (union if outcome is None else outcome.error()), attack
    assert union[-1] == 1.0  # eps 1 reaches every image
    assert table.loc[table["attack"] == "robust", "dist"].isna().all()
    assert any(line.startswith("lenet robust error: ") for line in lines)


def test_transfer_examples_are_the_full_length_pgd_examples_of_the_source():
    source = zero_bias_linear_classifier(8)
    x, y = labelled_by(source, n=10, seed=8)
    settings = StrongAttackSettings.from_config({**STRONG_ATTACKS_SECTION, "eps": [0.01, 0.05], "batch_size": 4})
    lines: list[str] = []
    examples = transfer_examples(source, x, y, settings, "lenet", log=lines.append)
    assert examples.shape == (3, 10, 1, 28, 28)  # eps 0.01, 0.05 and the sanity eps
    expected = PGD(settings.pgd, settings.seed, settings.batch_size).example_sets(source, x, y, settings.all_eps)
    assert torch.equal(examples, expected)
    assert len([line for line in lines if line.startswith("transfer source lenet: eps")]) == 3


def test_the_cascade_attacks_only_the_rows_left_robust_and_keeps_their_worst_case():
    model = zero_bias_linear_classifier(7)
    x, y = labelled_by(model, n=12, seed=7)
    section = {**STRONG_ATTACKS_SECTION, "attacks": ["fgsm", "pgd", "square"], "eps": [0.002, 0.01], "square": {"queries": 30, "p_init": 0.3}}
    lines: list[str] = []
    cascaded = evaluate_networks("lenet", model, {}, x, y, StrongAttackSettings.from_config(section), {}, log=lines.append)
    plain = evaluate_networks("lenet", model, {}, x, y, StrongAttackSettings.from_config({**section, "cascade": False}), {}, log=lambda _: None)
    by_attack = {name: table.set_index(["attack", "eps"])["error"] for name, table in (("cascaded", cascaded), ("plain", plain))}
    rows_before_square = sum(1 - by_attack["cascaded"][("pgd", e)] for e in (0.002, 0.01, 1.0)) * 12
    # PGD fools every image at eps 1, so Square attacks only the rows of the two small eps PGD left robust.
    assert f"square: {round(rows_before_square)} (image, eps) rows, 30 queries" in lines
    assert round(rows_before_square) < 3 * 12
    for e in (0.002, 0.01, 1.0):
        # FGSM and PGD run on every row either way; Square's column is the worst case up to it.
        for attack in ("fgsm", "pgd"):
            assert by_attack["cascaded"][(attack, e)] == by_attack["plain"][(attack, e)]
        assert by_attack["cascaded"][("square", e)] == by_attack["cascaded"][("robust", e)]
        assert by_attack["cascaded"][("robust", e)] >= by_attack["plain"][("pgd", e)]
    added = cascaded.set_index(["attack", "eps"])["added"]
    assert added[("pgd", 1.0)] + added[("fgsm", 1.0)] == 1.0 and added[("square", 1.0)] == 0.0


def test_a_cascaded_attack_leaves_the_rows_not_pending_alone():
    model = zero_bias_linear_classifier(5)
    x, y = labelled_by(model, n=10, seed=5)
    settings = StrongAttackSettings.from_config({**STRONG_ATTACKS_SECTION, "eps": [0.05]})
    pending = torch.zeros(2, 10, dtype=torch.bool)
    pending[:, :4] = True  # the first four images at both eps (0.05 and the sanity eps 1)
    outcome = PGD(settings.pgd, settings.seed, settings.batch_size).white_box_outcome(model, x, y, settings.all_eps, pending)
    assert not outcome.fooled[~pending].any() and (outcome.abs_change[~pending] == 0).all()
    assert outcome.fooled[1, :4].all()  # eps 1 fools every image it attacks
