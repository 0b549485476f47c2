"""Jobs of workflow/rules/strong_attacks.smk: transfer examples, the fast adversarial
training reference, one method under every attack, and the table and figure that join the methods."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import torch

from ..attacks.catalog import RESULT_COLUMNS
from ..attacks.core import is_randomized
from ..config import FAST_REFERENCE, StrongAttackSettings, extra_threats, fast_reference_budget
from ..data import load_split
from ..errors import ConfigError, DataError
from ..evaluation.strong import attack_plan, evaluate_networks, transfer_examples
from ..io.checkpoints import MethodInputs
from ..io.hdf5 import load_transfer_examples, save_transfer_examples
from ..io.resume import ResumeFolder, digest
from ..io.storage import read_csv_checked, save_figure, write_csv, write_text_atomic
from ..progress import Log
from ..reports.plots import strong_attack_curves
from ..reports.strong import strong_table, table_title, to_markdown
from ..training.fast_at import FastATSettings, fast_adversarial_training
from .evaluation import method_and_test_images
from .training import initialised_model, save_trained


def make_transfer_examples(
    source: MethodInputs,
    data_h5: str,
    settings: Mapping,
    output_h5: str,
    device: torch.device | str = "cpu",
    log: Log = print,
) -> torch.Tensor:
    """PGD examples of ``source`` at every eps, stored for scoring on the other methods."""
    settings = StrongAttackSettings.from_config(settings)
    network, images, labels = method_and_test_images(source, data_h5, settings.test_images, device)
    examples = transfer_examples(network, images.to(device), labels.to(device), settings, source.name, log).cpu()
    attrs = {"source": source.name, "eps": settings.all_eps, "images": len(images), "steps": settings.pgd.steps}
    save_transfer_examples(output_h5, examples, attrs)
    return examples


def train_fast_reference(
    data_h5: str,
    checkpoint: str,
    fast_reference: Mapping,
    train_images: int,
    test_images: int,
    device: torch.device | str = "cpu",
    log: Log = print,
) -> dict[str, float]:
    """Train a LeNet (``arch``: Caffe's, or with ReLUs after its convolutions) from scratch
    with fast adversarial training and save the best epoch as ``fast_at_reference``, with
    the per-epoch history of the overfitting guard."""
    arch = fast_reference["arch"]
    settings = FastATSettings(**{key: value for key, value in fast_reference.items() if key != "arch"})
    model = initialised_model(arch, None, settings.seed).to(device)
    images, labels = load_split(data_h5, "train", limit=train_images)
    test_x, test_y = load_split(data_h5, "test", limit=test_images)
    log(f"fast adversarial training: {fast_reference_budget(fast_reference)}; {len(images)} training images")
    result = fast_adversarial_training(model, images, labels, settings, log=log)
    metrics = {"train_seconds": result.train_seconds, "images_per_second": result.images_per_second,
               "final_loss": result.history[result.kept_epoch - 1]["train_loss"]}
    model_spec = {"arch": arch, "dropout": {}, "seed": settings.seed}
    return save_trained(
        checkpoint, FAST_REFERENCE, model_spec, settings, result.model.cpu(), metrics, len(images), test_x, test_y, log,
        fast_training={**dict(fast_reference), "budget": fast_reference_budget(fast_reference)},
        fast_history=result.history, kept_epoch=result.kept_epoch, collapsed=result.collapsed,
    )


def evaluate_method(
    method: MethodInputs,
    data_h5: str,
    settings: Mapping,
    output_csv: str,
    transfer_files: Mapping[str, str] | None = None,
    device: torch.device | str = "cpu",
    log: Log = print,
) -> pd.DataFrame:
    """Evaluate one configured method (or the reference) and write its tidy CSV. AutoAttack's
    progress is kept beside the output until it is written (``resume_folder``), so an
    interrupted job resumes there."""
    identity = digest(
        method.name, method.spec, method.lowpass, dict(settings), *map(Path, method.members),
        *([Path(method.dae)] if method.dae else []),
        *([Path(method.spec["defense"]["file"])] if method.spec.get("defense") else []),
    )
    progress = ResumeFolder(resume_folder(output_csv), identity)
    settings = StrongAttackSettings.from_config(settings)
    network, images, labels = method_and_test_images(method, data_h5, settings.test_images, device)
    attacked_networks = {threat: method.load(threat=threat).to(device) for threat in extra_threats(method.spec)}
    transfer = {}
    if "transfer" in settings.attacks:
        transfer_files = transfer_files or {}
        missing = [s for s in settings.transfer_sources if s != method.name and s not in transfer_files]
        if missing:
            raise ConfigError(f"evaluating {method.name}: no transfer examples given for source(s) {missing}")
        transfer = {
            s: load_transfer_examples(path, s, settings.all_eps, len(images))
            for s, path in transfer_files.items()
            if s != method.name
        }
    plan = [planned.label for planned in attack_plan(settings, list(attacked_networks), is_randomized(network), method.name)]
    log(f"{method.name}: {len(images)} test images, eps {settings.all_eps}, attacks {plan}")
    table = evaluate_networks(
        method.name, network, attacked_networks, images.to(device), labels.to(device), settings, transfer, log=log,
        store=progress,
    )
    write_csv(table, output_csv, float_format="%.6g")
    progress.remove()
    return table


def resume_folder(output_csv: str) -> Path:
    """Where a method's evaluation keeps its progress: a hidden folder beside its CSV."""
    output = Path(output_csv)
    return output.parent / f".{output.stem}.resume"


def read_results(path: str) -> pd.DataFrame:
    return read_csv_checked(path, RESULT_COLUMNS, "strong-attack results")


def write_strong_report(
    result_paths: Mapping[str, str],
    settings: Mapping,
    fast_reference: Mapping,
    csv_path: str,
    markdown_path: str,
    figure_path: str,
    log: Log = print,
) -> pd.DataFrame:
    """The extended table (CSV + markdown) and the error-vs-eps figure, from per-method
    results (label -> CSV); every failed sanity check is logged."""
    checked = StrongAttackSettings.from_config(settings)
    title = table_title(checked, fast_reference_budget(fast_reference))
    results = {label: read_results(path) for label, path in result_paths.items()}
    table = strong_table(results, checked)
    counts = set(table["images"])
    if counts != {checked.test_images}:
        raise DataError(
            f"strong-attack results were made on {sorted(counts)} images, expected {checked.test_images}; rerun them"
        )
    for row in table.itertuples(index=False):
        if row.flags != "ok":
            log(f"CHECK FAILED: {row.method} at eps {row.eps:g}: {row.flags}")
    write_csv(table, csv_path, float_format="%.4g")
    write_text_atomic(markdown_path, to_markdown(table, title))
    tidy = pd.concat([frame.assign(method=label) for label, frame in results.items()], ignore_index=True)
    save_figure(strong_attack_curves(tidy, title, checked.eps), figure_path)
    log("\n" + table.to_string(index=False))
    return table
