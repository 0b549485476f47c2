"""Extended evaluation beyond the paper: every method under FGSM, PGD, EOT-PGD, the
gradient-free Square attack and transfer attacks at several L-inf eps, the per-example worst case over attacks ("robust error"),
and the field's sanity checks (Carlini et al. 2019; Athalye et al. 2018) as flags.

One method is evaluated per job (``evaluate_method``, a tidy CSV); ``write_strong_table``
joins those into the table beside Table 2.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping, Sequence

import h5py
import pandas as pd
import torch
from torch import nn

from .data import load_split
from .errors import ConfigError, DataError
from .iterative_attacks import (
    PGDSettings,
    SquareSettings,
    check_attack_names,
    check_eps,
    fgsm_outcome,
    fixed_examples_outcome,
    is_randomized,
    pgd_example_sets,
    pgd_outcome,
    predictions,
    square_outcome,
)
from .methods import build_method
from .pgd_training import reference_budget
from .plots import strong_attack_curves
from .storage import atomic_path, check_attrs, read_csv_checked, read_hdf5, write_text_atomic

RESULT_COLUMNS = ["method", "attack", "eps", "error", "dist", "images"]
ROBUST = "robust"  # the per-example worst case over every attack that ran
ATTACK_ORDER = ["fgsm", "pgd", "eot_pgd", "square", "fgsm_oblivious", "pgd_oblivious"]  # then transfer_<source>


@dataclasses.dataclass(frozen=True)
class StrongAttackSettings:
    """Config ``strong_attacks`` (everything but ``enabled`` and the reference model)."""

    eps: tuple[float, ...]
    sanity_eps: float
    sanity_min_error: float
    attacks: tuple[str, ...]
    pgd: PGDSettings
    square: SquareSettings
    eot_samples: int
    transfer_sources: tuple[str, ...]
    flag_tolerance_pct: float
    seed: int
    batch_size: int
    test_images: int

    @classmethod
    def from_config(cls, section: Mapping) -> StrongAttackSettings:
        def nested(kind, name):
            try:
                return kind(**section[name])
            except TypeError as exc:
                raise ConfigError(f"strong_attacks.{name}: {exc}") from exc

        try:
            settings = cls(
                eps=tuple(check_eps(section["eps"])),
                sanity_eps=float(section["sanity_eps"]),
                sanity_min_error=float(section["sanity_min_error"]),
                attacks=tuple(check_attack_names(section["attacks"])),
                pgd=nested(PGDSettings, "pgd"),
                square=nested(SquareSettings, "square"),
                eot_samples=int(section["eot_samples"]),
                transfer_sources=tuple(section["transfer_sources"]),
                flag_tolerance_pct=float(section["flag_tolerance_pct"]),
                seed=int(section["seed"]),
                batch_size=int(section["batch_size"]),
                test_images=int(section["test_images"]),
            )
        except KeyError as exc:
            raise ConfigError(f"strong_attacks lacks setting {exc}") from exc
        check_eps([*settings.eps, settings.sanity_eps])
        if settings.eot_samples < 1 or settings.batch_size < 1 or settings.test_images < 1:
            raise ConfigError(f"strong_attacks: eot_samples, batch_size and test_images must be >= 1: {settings}")
        if not 0 <= settings.sanity_min_error <= 1:
            raise ConfigError(f"strong_attacks.sanity_min_error must be a fraction in [0, 1], got {settings.sanity_min_error}")
        return settings

    @property
    def all_eps(self) -> list[float]:
        """The reported eps values and the sanity eps, ascending."""
        return check_eps([*self.eps, self.sanity_eps])


# ---------------------------------------------------------------------------------------
# Transfer examples: PGD on a source method, stored once, scored on every other method.


def make_transfer_examples(
    data_h5: str,
    source: str,
    spec: dict,
    member_checkpoints: Sequence[str],
    lowpass: dict,
    settings: StrongAttackSettings,
    output_h5: str,
    dae_checkpoint: str | None = None,
    device: torch.device | str = "cpu",
    log: Callable[[str], None] = print,
) -> torch.Tensor:
    """PGD examples of ``source`` at every eps (all steps, one restart: the strongest single
    example, not the first that fools the source), eps x images x 1 x 28 x 28."""
    network = build_method(source, spec, member_checkpoints, lowpass, dae_checkpoint).to(device)
    images, labels = load_split(data_h5, "test", limit=settings.test_images)
    images, labels = images.to(device), labels.to(device)
    examples = pgd_example_sets(network, images, labels, settings.all_eps, settings.pgd, settings.seed, settings.batch_size)
    for eps, batch in zip(settings.all_eps, examples):
        fooled = (predictions(network, batch) != labels).float().mean().item()
        log(f"transfer source {source}: eps {eps:g}, error on its own examples {100 * fooled:.2f}%")
    examples = examples.cpu()
    with atomic_path(output_h5) as tmp, h5py.File(tmp, "w") as handle:
        handle.create_dataset("examples", data=examples.numpy(), compression="lzf", chunks=(1, min(1000, len(images)), 1, 28, 28))
        handle.attrs.update({"source": source, "eps": settings.all_eps, "images": len(images), "steps": settings.pgd.steps})
    return examples


def load_transfer_examples(path: str | os.PathLike, source: str, eps: Sequence[float], images: int) -> torch.Tensor:
    arrays, attrs = read_hdf5(path, ["examples"], "transfer examples", hint="made by the strong_transfer rule")
    check_attrs(path, "transfer examples", attrs, {"source": source, "eps": [float(e) for e in eps], "images": images})
    return torch.from_numpy(arrays["examples"])


# ---------------------------------------------------------------------------------------
# One method under every attack.


def attack_plan(settings: StrongAttackSettings, has_preprocess: bool, randomized: bool, method: str) -> list[str]:
    """Attack labels run against a method, in the order they run."""
    plan = []
    for family in ("fgsm", "pgd"):
        if family in settings.attacks:
            plan.append(family)
            if has_preprocess:
                plan.append(f"{family}_oblivious")
    if "eot_pgd" in settings.attacks and randomized:
        plan.append("eot_pgd")
    if "square" in settings.attacks:
        plan.append("square")
    if "transfer" in settings.attacks:
        plan.extend(f"transfer_{source}" for source in settings.transfer_sources if source != method)
    return plan


def evaluate_networks(
    method: str,
    network: nn.Module,
    oblivious: nn.Module | None,
    images: torch.Tensor,
    labels: torch.Tensor,
    settings: StrongAttackSettings,
    transfer: Mapping[str, torch.Tensor],
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Tidy results (RESULT_COLUMNS) of every planned attack and of the per-example worst case.

    ``oblivious`` is the classifier without its preprocessing (None: the method has none); its
    examples are scored on the whole method. ``transfer`` maps a source name to its stored
    examples. Clean misclassifications count as failures at every eps in the worst case.
    """
    eps = settings.all_eps
    device = images.device
    randomized = is_randomized(network)
    pixels = images[0].numel()
    clean_wrong = (predictions(network, images, settings.batch_size) != labels).cpu()
    rows = [{"method": method, "attack": "clean", "eps": 0.0, "error": clean_wrong.double().mean().item(), "dist": 0.0}]
    worst = clean_wrong.expand(len(eps), -1).clone()
    for attack in attack_plan(settings, oblivious is not None, randomized, method):
        attacker = oblivious if attack.endswith("_oblivious") else network
        if attack.startswith("fgsm"):
            outcome = fgsm_outcome(attacker, images, labels, eps, settings.batch_size, scored_on=network)
        elif attack.startswith("transfer_"):
            examples = transfer[attack.removeprefix("transfer_")].to(device)
            outcome = fixed_examples_outcome(network, images, labels, examples, eps, settings.batch_size)
        elif attack == "square":
            outcome = square_outcome(network, images, labels, eps, settings.square, settings.seed, settings.batch_size, log=log)
        elif attack == "pgd_oblivious":
            examples = pgd_example_sets(oblivious, images, labels, eps, settings.pgd, settings.seed, settings.batch_size)
            outcome = fixed_examples_outcome(network, images, labels, examples, eps, settings.batch_size)
        else:
            samples = settings.eot_samples if attack == "eot_pgd" else 1
            outcome = pgd_outcome(network, images, labels, eps, settings.pgd, settings.seed, samples, settings.batch_size, log=log)
        worst |= outcome.fooled
        for k, e in enumerate(eps):
            rows.append({"method": method, "attack": attack, "eps": e, "error": outcome.error()[k], "dist": outcome.dist(pixels)[k]})
        log(f"{method} {attack}: " + ", ".join(f"eps {e:g}: {100 * err:.1f}%" for e, err in zip(eps, outcome.error())))
    for k, e in enumerate(eps):
        rows.append({"method": method, "attack": ROBUST, "eps": e, "error": worst[k].double().mean().item(), "dist": math.nan})
    log(f"{method} robust error: " + ", ".join(f"eps {e:g}: {100 * worst[k].double().mean():.1f}%" for k, e in enumerate(eps)))
    table = pd.DataFrame(rows)
    table["images"] = len(images)
    return table[RESULT_COLUMNS]


def evaluate_method(
    data_h5: str,
    method: str,
    spec: dict,
    member_checkpoints: Sequence[str],
    lowpass: dict,
    settings: StrongAttackSettings,
    output_csv: str,
    transfer_files: Mapping[str, str] | None = None,
    dae_checkpoint: str | None = None,
    device: torch.device | str = "cpu",
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Evaluate one configured method (or the PGD-trained reference) and write its tidy CSV."""
    network = build_method(method, spec, member_checkpoints, lowpass, dae_checkpoint).to(device)
    oblivious = None
    if spec.get("preprocess", "none") != "none":
        oblivious = build_method(method, spec, member_checkpoints, lowpass, dae_checkpoint, threat="oblivious").to(device)
    images, labels = load_split(data_h5, "test", limit=settings.test_images)
    transfer = {}
    if "transfer" in settings.attacks:
        missing = [s for s in settings.transfer_sources if s != method and s not in (transfer_files or {})]
        if missing:
            raise ConfigError(f"evaluating {method}: no transfer examples given for source(s) {missing}")
        transfer = {s: load_transfer_examples(path, s, settings.all_eps, len(images)) for s, path in (transfer_files or {}).items() if s != method}
    log(f"{method}: {len(images)} test images, eps {settings.all_eps}, attacks {attack_plan(settings, oblivious is not None, is_randomized(network), method)}")
    table = evaluate_networks(method, network, oblivious, images.to(device), labels.to(device), settings, transfer, log=log)
    with atomic_path(output_csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    return table


def read_results(path: str) -> pd.DataFrame:
    return read_csv_checked(path, RESULT_COLUMNS, "strong-attack results")


# ---------------------------------------------------------------------------------------
# The field's checks and the table beside Table 2.


def check_flags(errors: Mapping[str, float], eps: float, settings: StrongAttackSettings) -> list[str]:
    """Failed sanity checks for one method at one eps; ``errors`` maps attack -> error (fraction)."""
    tolerance = settings.flag_tolerance_pct / 100
    flags = []
    # Only the white-box pair: oblivious PGD examples are tuned to the classifier alone and
    # may transfer through the preprocessing worse than FGSM's, which is no attack failure.
    if "pgd" in errors and "fgsm" in errors and errors["pgd"] < errors["fgsm"] - tolerance:
        flags.append("pgd weaker than fgsm")
    white_box_errors = [errors[a] for a in ("pgd", "eot_pgd") if a in errors]
    for attack, error in errors.items():
        if attack.startswith("transfer_") and white_box_errors and error > max(white_box_errors) + tolerance:
            flags.append(f"{attack} stronger than white-box")
    if "eot_pgd" in errors and "pgd" in errors and errors["eot_pgd"] < errors["pgd"] - tolerance:
        flags.append("eot_pgd weaker than pgd")
    # Random search needs no gradient: beating the gradient attacks means they were misled.
    if "square" in errors and white_box_errors and errors["square"] > max(white_box_errors) + tolerance:
        flags.append("square (gradient-free) stronger than white-box: masked gradients")
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
            row = {"method": label, "eps": eps, "clean": 100 * clean}
            row.update({attack: 100 * error for attack, error in errors.items()})
            pgd_dist = group.loc[group["attack"] == "pgd", "dist"]
            row["pgd_dist"] = pgd_dist.iloc[0] if len(pgd_dist) else math.nan
            row["flags"] = "; ".join(check_flags(errors, eps, settings)) or "ok"
            row["images"] = int(tidy["images"].iloc[0])
            rows.append(row)
    table = pd.DataFrame(rows)
    attacks = sorted(
        (c for c in table.columns if c not in ("method", "eps", "clean", ROBUST, "pgd_dist", "flags", "images")),
        key=lambda attack: (ATTACK_ORDER.index(attack) if attack in ATTACK_ORDER else len(ATTACK_ORDER), attack),
    )
    return table[["method", "eps", "clean", *attacks, ROBUST, "pgd_dist", "flags", "images"]]


def to_markdown(table: pd.DataFrame, title: str) -> str:
    columns = list(table.columns)
    lines = [f"**{title}**", "", "| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for row in table.itertuples(index=False):
        cells = []
        for column, value in zip(columns, row):
            if isinstance(value, float):
                cells.append("" if math.isnan(value) else (f"{value:g}" if column == "eps" else f"{value:.3f}" if column == "pgd_dist" else f"{value:.1f}"))
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def table_title(settings: StrongAttackSettings, reference_budget: str) -> str:
    pgd = settings.pgd
    return (
        f"Error (%) under stronger L-inf attacks, first {settings.test_images} MNIST test images; "
        f"PGD {pgd.steps} steps x {pgd.restarts} restarts, EOT {settings.eot_samples} draws; "
        f"robust = per-image worst case incl. clean errors; reference: {reference_budget}"
    )


def write_strong_table(
    result_paths: Mapping[str, str], settings: StrongAttackSettings, reference_budget: str, csv_path: str, markdown_path: str, log: Callable[[str], None] = print
) -> pd.DataFrame:
    """Join per-method results (label -> CSV) into the extended table; log every failed check."""
    table = strong_table({label: read_results(path) for label, path in result_paths.items()}, settings)
    counts = set(table["images"])
    if counts != {settings.test_images}:
        raise DataError(f"strong-attack results were made on {sorted(counts)} images, expected {settings.test_images}; rerun them")
    for row in table.itertuples(index=False):
        if row.flags != "ok":
            log(f"CHECK FAILED: {row.method} at eps {row.eps:g}: {row.flags}")
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4g")
    write_text_atomic(markdown_path, to_markdown(table, table_title(settings, reference_budget)))
    return table


def write_strong_report(
    result_paths: Mapping[str, str],
    settings: Mapping,
    reference: Mapping,
    csv_path: str,
    markdown_path: str,
    figure_path: str,
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """The extended table (CSV + markdown) and the error-vs-eps figure, from per-method results."""
    checked = StrongAttackSettings.from_config(settings)
    budget = reference_budget(reference)
    table = write_strong_table(result_paths, checked, budget, csv_path, markdown_path, log=log)
    tidy = pd.concat([read_results(path).assign(method=label) for label, path in result_paths.items()], ignore_index=True)
    strong_attack_curves(tidy, table_title(checked, budget), figure_path)
    log("\n" + table.to_string(index=False))
    return table
