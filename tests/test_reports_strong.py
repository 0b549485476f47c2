"""Tests for mnistrobust.reports.strong: the field's sanity checks as flags, the wide table
beside Table 2 that joins the methods' tidy results, and its markdown."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from mnistrobust.config import StrongAttackSettings
from mnistrobust.attacks.catalog import RESULT_COLUMNS, ROBUST
from mnistrobust.reports.strong import check_flags, strong_table, table_title, to_markdown

from model_support import STRONG_ATTACKS_SECTION

def test_flags_name_each_failed_check():
    settings = StrongAttackSettings.from_config({**STRONG_ATTACKS_SECTION, "cascade": False})
    assert check_flags({"fgsm": 0.5, "pgd": 0.6, "transfer_lenet": 0.55, "robust": 0.6}, 0.1, settings) == []
    flags = check_flags({"fgsm": 0.5, "pgd": 0.4, "eot_pgd": 0.3, "transfer_lenet": 0.7, "robust": 0.7}, 0.2, settings)
    assert flags == ["pgd weaker than fgsm", "transfer_lenet stronger than white-box", "eot_pgd weaker than pgd"]
    assert check_flags({"pgd": 0.9, "robust": 0.9}, 1.0, settings) == ["robust error 90.0% < 95% at sanity eps"]
    assert check_flags({"pgd": 0.3, "square": 0.6, "robust": 0.6}, 0.1, settings) == [
        "square (gradient-free) stronger than white-box: masked gradients"
    ]
    # Within the tolerance (1 percentage point) nothing is flagged.
    assert check_flags({"fgsm": 0.5, "pgd": 0.495, "robust": 0.5}, 0.1, settings) == []


def test_flags_of_the_cascade_judge_its_attacks_by_what_they_added():
    settings = StrongAttackSettings.from_config(STRONG_ATTACKS_SECTION)
    # Cascaded columns are the worst case up to them: above PGD by construction, no flag.
    errors = {"fgsm": 0.5, "pgd": 0.6, "eot_pgd": 0.62, "square": 0.625, "autoattack": 0.63, "robust": 0.63}
    added = {"fgsm": 0.5, "pgd": 0.1, "eot_pgd": 0.02, "square": 0.005, "autoattack": 0.005}
    assert check_flags(errors, 0.1, settings, added) == []
    added = {**added, "square": 0.03, "autoattack": 0.02}
    assert check_flags(errors, 0.1, settings, added) == [
        "square (gradient-free) fooled images every gradient attack missed: masked gradients",
        "autoattack fooled images every other attack missed",
    ]
    # A transfer attack is judged against PGD alone: EOT-PGD's column holds the transfer's errors.
    assert check_flags({"pgd": 0.4, "eot_pgd": 0.8, "transfer_lenet": 0.7, "robust": 0.8}, 0.1, settings, {}) == [
        "transfer_lenet stronger than white-box"
    ]


def _tidy(method: str, clean: float, errors: dict[str, list[float]], eps=(0.1, 1.0), images: int = 24) -> pd.DataFrame:
    """One method's results as evaluate_networks writes them."""
    rows = [{"method": method, "attack": "clean", "eps": 0.0, "error": clean, "dist": 0.0, "added": 0.0}]
    for attack, values in errors.items():
        for e, error in zip(eps, values):
            dist = math.nan if attack == ROBUST else e / 2
            rows.append({"method": method, "attack": attack, "eps": e, "error": error, "dist": dist, "added": 0.0})
    table = pd.DataFrame(rows)
    table["images"] = images
    return table[RESULT_COLUMNS]


def test_strong_table_joins_methods_one_row_per_eps_with_flags():
    settings = StrongAttackSettings.from_config({**STRONG_ATTACKS_SECTION, "eps": [0.1]})
    results = {
        "No method": _tidy("lenet", 0.01, {"fgsm": [0.5, 1.0], "pgd": [0.6, 1.0], "robust": [0.6, 1.0]}),
        "Low-pass filter": _tidy(
            "lowpass5_lenet",
            0.02,
            {"fgsm": [0.4, 0.9], "pgd_oblivious": [0.2, 0.5], "pgd": [0.3, 0.9], "transfer_lenet": [0.35, 0.9], "robust": [0.45, 0.9]},
        ),
    }
    table = strong_table(results, settings)
    assert list(table.columns) == ["method", "eps", "clean", "fgsm", "pgd", "pgd_oblivious", "transfer_lenet", ROBUST, "pgd_dist", "flags", "images"]
    assert list(zip(table["method"], table["eps"])) == [("No method", 0.1), ("No method", 1.0), ("Low-pass filter", 0.1), ("Low-pass filter", 1.0)]
    assert table["clean"].tolist() == pytest.approx([1.0, 1.0, 2.0, 2.0])  # percent
    assert table["pgd"].tolist() == pytest.approx([60.0, 100.0, 30.0, 90.0])
    assert table["pgd_dist"].tolist() == pytest.approx([0.05, 0.5, 0.05, 0.5])
    assert table.loc[table["method"] == "No method", "transfer_lenet"].isna().all()  # not run on itself
    assert table["flags"].tolist() == [
        "ok",
        "ok",
        "pgd weaker than fgsm; transfer_lenet stronger than white-box",
        "robust error 90.0% < 95% at sanity eps",
    ]
    assert (table["images"] == 24).all()


def test_markdown_of_the_strong_table_has_a_title_and_formatted_cells():
    settings = StrongAttackSettings.from_config({**STRONG_ATTACKS_SECTION, "eps": [0.1]})
    table = strong_table({"No method": _tidy("lenet", 0.01, {"fgsm": [0.5, 1.0], "pgd": [0.6, 1.0], "robust": [0.6, 1.0]})}, settings)
    text = to_markdown(table, "A title")
    lines = text.splitlines()
    assert lines[0] == "**A title**" and lines[1] == ""
    assert lines[2] == "| method | eps | clean | fgsm | pgd | robust | pgd_dist | flags | images |"
    assert lines[4] == "| No method | 0.1 | 1.0 | 50.0 | 60.0 | 60.0 | 0.050 | ok | 24 |"
    assert len(lines) == 6 and text.endswith("\n")


def test_table_title_states_the_budget():
    settings = StrongAttackSettings.from_config(STRONG_ATTACKS_SECTION)
    title = table_title(settings, "LeNet fast-AT 1 epochs")
    assert title == (
        "Error (%) under stronger L-inf attacks, first 24 MNIST test images; PGD 6 steps x 2 restarts, "
        "EOT 3 draws; cascade: eot_pgd each only on the (image, eps) pairs every attack before it left robust, "
        "its column the worst case up to it; robust = per-image worst case incl. clean errors; "
        "reference: LeNet fast-AT 1 epochs"
    )
    uncascaded = StrongAttackSettings.from_config({**STRONG_ATTACKS_SECTION, "cascade": False})
    assert "cascade" not in table_title(uncascaded, "LeNet fast-AT 1 epochs")
