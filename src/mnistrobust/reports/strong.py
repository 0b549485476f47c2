"""The strong-attack table beside Table 2, and the field's sanity checks as flags
(Carlini et al. 2019; Athalye et al. 2018). Torch-free: it reads the per-method CSVs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from importlib import metadata

import pandas as pd

from ..attacks.catalog import CASCADED_ATTACKS, ROBUST, THREAT_COLUMNS
from ..config import StrongAttackSettings
from .tables import markdown_table

# One method's tidy CSV; ``added``: the share of images the attack fooled that no attack
# before it had (the attacks run in the order of evaluation.strong.attack_plan).


def check_flags(
    errors: Mapping[str, float], eps: float, settings: StrongAttackSettings, added: Mapping[str, float] | None = None
) -> list[str]:
    """Failed sanity checks for one method at one eps; ``errors`` maps attack -> error and
    ``added`` attack -> the share of images it fooled that no attack before it had (both
    fractions). Under ``settings.cascade`` a cascaded attack's error is the worst case up to
    it, so it is judged by what it added."""
    tolerance = settings.flag_tolerance_pct / 100
    cascaded = set(CASCADED_ATTACKS) if settings.cascade else set()
    added = added or {}
    flags = []
    # Only the white-box pair: oblivious PGD examples are tuned to the classifier alone and
    # may transfer through the preprocessing worse than FGSM's, which is no attack failure.
    if "pgd" in errors and "fgsm" in errors and errors["pgd"] < errors["fgsm"] - tolerance:
        flags.append("pgd weaker than fgsm")
    white_box_errors = [errors[a] for a in ("pgd", "eot_pgd") if a in errors and a not in cascaded]
    for attack, error in errors.items():
        if attack.startswith("transfer_") and white_box_errors and error > max(white_box_errors) + tolerance:
            flags.append(f"{attack} stronger than white-box")
    if "eot_pgd" in errors and "pgd" in errors and "eot_pgd" not in cascaded and errors["eot_pgd"] < errors["pgd"] - tolerance:
        flags.append("eot_pgd weaker than pgd")
    # Random search needs no gradient: beating the gradient attacks means they were misled.
    if "square" in cascaded:
        if added.get("square", 0.0) > tolerance:
            flags.append("square (gradient-free) fooled images every gradient attack missed: masked gradients")
    elif "square" in errors and white_box_errors and errors["square"] > max(white_box_errors) + tolerance:
        flags.append("square (gradient-free) stronger than white-box: masked gradients")
    # AutoAttack's parameter-free step sizes, targeted losses and Square find what PGD misses.
    if "autoattack" in cascaded:
        if added.get("autoattack", 0.0) > tolerance:
            flags.append("autoattack fooled images every other attack missed")
    elif "autoattack" in errors and white_box_errors and errors["autoattack"] > max(white_box_errors) + tolerance:
        flags.append("autoattack stronger than pgd")
    # BPDA differs from PGD only in the gradient it follows through a non-differentiable part.
    if "pgd_bpda" in errors and "pgd" in errors and errors["pgd_bpda"] > errors["pgd"] + tolerance:
        flags.append("pgd_bpda stronger than pgd: the non-differentiable part masks the gradient")
    if math.isclose(eps, settings.sanity_eps) and errors.get(ROBUST, 1.0) < settings.sanity_min_error:
        flags.append(f"robust error {100 * errors[ROBUST]:.1f}% < {100 * settings.sanity_min_error:g}% at sanity eps")
    return flags


def strong_table(results: Mapping[str, pd.DataFrame], settings: StrongAttackSettings) -> pd.DataFrame:
    """Wide table: one row per (method label, eps), error (%) per attack, robust error, PGD dist, flags."""
    rows = []
    for label, tidy in results.items():
        clean = tidy.loc[tidy["attack"] == "clean", "error"].iloc[0]
        for eps, group in tidy[tidy["attack"] != "clean"].groupby("eps", sort=True):
            errors = dict(zip(group["attack"], group["error"]))
            added = dict(zip(group["attack"], group["added"]))
            row = {"method": label, "eps": eps, "clean": 100 * clean}
            row.update({attack: 100 * error for attack, error in errors.items()})
            pgd_dist = group.loc[group["attack"] == "pgd", "dist"]
            row["pgd_dist"] = pgd_dist.iloc[0] if len(pgd_dist) else math.nan
            row["flags"] = "; ".join(check_flags(errors, eps, settings, added)) or "ok"
            row["images"] = int(tidy["images"].iloc[0])
            rows.append(row)
    table = pd.DataFrame(rows)
    attacks = sorted(
        (c for c in table.columns if c not in ("method", "eps", "clean", ROBUST, "pgd_dist", "flags", "images")),
        key=_column_order,
    )
    return table[["method", "eps", "clean", *attacks, ROBUST, "pgd_dist", "flags", "images"]]


def _column_order(attack: str) -> tuple[int, int, str]:
    # The attacks under every threat model, threat by threat; transfer_<source> after them, then the cascade.
    if attack in THREAT_COLUMNS:
        return 0, THREAT_COLUMNS.index(attack), attack
    if attack in CASCADED_ATTACKS:
        return 2, CASCADED_ATTACKS.index(attack), attack
    return 1, 0, attack  # transfer_<source>, by name


def _format(column: str, value) -> str:
    if not isinstance(value, float):
        return str(value)
    if math.isnan(value):
        return ""
    return f"{value:g}" if column == "eps" else f"{value:.3f}" if column == "pgd_dist" else f"{value:.1f}"


def to_markdown(table: pd.DataFrame, title: str) -> str:
    columns = list(table.columns)
    rows = [[_format(column, value) for column, value in zip(columns, row)] for row in table.itertuples(index=False)]
    return markdown_table(columns, rows, title=title)


def table_title(settings: StrongAttackSettings, reference_budget: str) -> str:
    pgd = settings.pgd
    return (
        f"Error (%) under stronger L-inf attacks, first {settings.test_images} MNIST test images; "
        f"PGD {pgd.steps} steps x {pgd.restarts} restarts, EOT {settings.eot_samples} draws; "
        f"{autoattack_title(settings)}{cascade_title(settings)}robust = per-image worst case incl. clean errors; "
        f"reference: {reference_budget}"
    )


def cascade_title(settings: StrongAttackSettings) -> str:
    """How the costly attacks ran ('' when each ran on every row)."""
    names = [attack for attack in CASCADED_ATTACKS if attack in settings.attacks]
    if not settings.cascade or not names:
        return ""
    return (
        f"cascade: {', '.join(names)} each only on the (image, eps) pairs every attack before it left robust, "
        "its column the worst case up to it; "
    )


def autoattack_title(settings: StrongAttackSettings) -> str:
    """Which AutoAttack ran: the implementation, its version and the budget ('' if none ran)."""
    if "autoattack" not in settings.attacks:
        return ""
    aa = settings.autoattack
    return (
        f"AutoAttack {aa.version} (rand, EOT {aa.eot_samples} draws, for randomized methods) from "
        f"torchattacks {metadata.version('torchattacks')}'s APGD, APGD-T, FAB at {aa.steps} steps "
        f"and Square at {aa.square_queries} queries; "
    )
