"""The comparison of Section 5.4: accuracy per noise type and level of humans and of 20 LeNets.

Each subject (or LeNet) contributes one accuracy per noise type and level, over the images
of its own set; across subjects come mean, standard deviation and the t-based confidence
region. Human answers are only ever read from the response database or its export; when
there are none, the LeNet side is produced alone and the figure and log say so.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..io.checkpoints import load_model
from ..errors import CheckpointError, ConfigError, DataError
from .figure8 import plot_figure8
from .statistics import summarize
from .stimuli import StimulusSets, images_as_tensor, load_stimuli
from ..io.storage import write_csv
from .tidy import LENET, SIMULATED, TIDY_COLUMNS, read_responses, tidy_answers

Log = Callable[[str], None]
PathLike = str | os.PathLike

UNIT_KEYS = ["population", "subject_id", "noise", "level"]
SUMMARY_KEYS = ["population", "noise", "level"]


def lenet_answers(
    stimuli_path: PathLike,
    checkpoints: Mapping[str, PathLike],
    output: PathLike,
    device: str | torch.device = "cpu",
    log: Log = print,
) -> None:
    """Each LeNet classifies its own stimulus set (the ``lenets`` file); the answers as a tidy CSV."""
    sets = load_stimuli(stimuli_path)
    if sets.attrs.get("group") != "lenets":
        raise ConfigError(f"{stimuli_path} holds the {sets.attrs.get('group')!r} sets, not the LeNets'")
    if sorted(checkpoints) != sorted(sets.set_ids):
        raise ConfigError(
            f"{stimuli_path} has sets for {sets.set_ids}, checkpoints were given for {sorted(checkpoints)}"
        )
    frames = []
    for index, name in enumerate(sets.set_ids):
        model, meta = load_model(checkpoints[name])
        if meta.get("name") != name:
            raise CheckpointError(f"checkpoint {checkpoints[name]} holds model {meta.get('name')!r}, expected {name!r}")
        with torch.no_grad():
            predicted = model.to(device)(images_as_tensor(sets, index).to(device)).argmax(dim=1).cpu().numpy()
        answers = pd.DataFrame(
            {
                "subject_id": name,
                "image_id": np.arange(len(predicted)),
                "answer": predicted,
                "response_ms": np.nan,
                "answered_at": "",
            }
        )
        frames.append(tidy_answers(sets, answers, LENET))
        log(f"{name}: {frames[-1]['correct'].mean():.1%} of its {len(predicted)} stimuli right")
    write_csv(pd.concat(frames, ignore_index=True), output)


def accuracy_per_unit(tidy: pd.DataFrame) -> pd.DataFrame:
    """One row per population, subject (or model), noise and level: accuracy over its images there."""
    grouped = tidy.groupby(UNIT_KEYS, sort=True, dropna=False)
    return grouped.agg(images=("correct", "size"), accuracy=("correct", "mean"), dist=("dist", "mean")).reset_index()


def complete_only(tidy: pd.DataFrame, images_per_set: int) -> tuple[pd.DataFrame, list[str]]:
    """Subjects who answered their whole set, and the ids of those who did not (left out:
    a few answers per level would give noisy, incomparable accuracies)."""
    counts = tidy.groupby("subject_id")["image_id"].nunique()
    incomplete = sorted(counts[counts < images_per_set].index)
    return tidy[~tidy["subject_id"].isin(incomplete)], incomplete


def load_human_side(responses: PathLike | None, sets: StimulusSets, log: Log) -> tuple[pd.DataFrame, list[str]]:
    """Complete subjects' tidy answers (maybe none) and the notes the figure must carry."""
    if responses is None or not Path(responses).exists():
        note = f"No human responses yet ({responses}): LeNet side only"
        log(f"WARNING: {note}; run the experiment page to collect them")
        return pd.DataFrame(columns=TIDY_COLUMNS), [note]
    tidy, incomplete = complete_only(read_responses(responses, sets), sets.images_per_set)
    notes = []
    if incomplete:
        log(
            f"left out {len(incomplete)} subject(s) who have not answered all "
            f"{sets.images_per_set} images: {incomplete}"
        )
    if tidy.empty:
        notes.append(f"No complete human responses yet ({len(incomplete)} subject(s) in progress): LeNet side only")
        log(f"WARNING: {notes[-1]}")
    elif (tidy["population"] == SIMULATED).any():
        notes.append("SIMULATED subjects (test data): not human responses")
        log(f"WARNING: {responses} holds {notes[-1]}")
    else:
        log(f"human side: {tidy['subject_id'].nunique()} complete subject(s) from {responses}")
    return tidy, notes


def analyse(
    subjects_stimuli: PathLike,
    lenet_answers_csv: PathLike,
    responses: PathLike | None,
    per_unit_csv: PathLike,
    summary_csv: PathLike,
    responses_csv: PathLike,
    figure: PathLike,
    confidence: float = 0.95,
    log: Log = print,
) -> pd.DataFrame:
    """Accuracies per subject/model, their summary across subjects/models, the tidy human
    responses used, and Figure 8. Returns the summary."""
    sets = load_stimuli(subjects_stimuli)
    if sets.attrs.get("group") != "subjects":
        raise ConfigError(f"{subjects_stimuli} holds the {sets.attrs.get('group')!r} sets, not the subjects'")
    lenets = _read_lenet_answers(lenet_answers_csv)
    humans, notes = load_human_side(responses, sets, log)
    write_csv(humans, responses_csv)
    frames = [frame for frame in (lenets, humans) if not frame.empty]
    per_unit = accuracy_per_unit(pd.concat(frames, ignore_index=True))
    summary = summarize(per_unit, SUMMARY_KEYS, "accuracy", confidence)
    design = pd.DataFrame(sets.levels)[["noise", "level", "design_dist"]]
    summary = summary.merge(design, on=["noise", "level"], how="left")
    write_csv(per_unit, per_unit_csv)
    write_csv(summary, summary_csv)
    for row in summary.itertuples():
        log(
            f"{row.population:9s} {row.noise:8s} level {row.level:<5g} n={row.n:<3d} "
            f"accuracy {row.mean:.3f} sd {row.sd:.3f}"
        )
    plot_figure8(summary, notes, confidence, figure)
    return summary


def _read_lenet_answers(path: PathLike) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype={"subject_id": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path} is not a readable LeNet answers CSV: {exc}") from exc
    if list(frame.columns) != TIDY_COLUMNS or set(frame["population"]) != {LENET}:
        raise DataError(f"{path} is not a LeNet answers CSV (columns {TIDY_COLUMNS}, population {LENET!r})")
    return frame
