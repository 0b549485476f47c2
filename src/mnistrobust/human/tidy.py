"""Answers as one tidy table: one row per (subject or LeNet, image) with what the image was.

The same table is the shareable export of the responses (no personal data: the subject
id is the only thing about a person) and what the analysis reads, for humans and LeNets.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..io.hdf5 import StimulusSets
from .responses import ANSWER_COLUMNS, read_database

PathLike = str | os.PathLike

HUMAN, SIMULATED, LENET = "human", "simulated", "lenet"
POPULATIONS = (HUMAN, SIMULATED, LENET)
TIDY_COLUMNS = [
    "population",
    "subject_id",
    "image_id",
    "noise",
    "level",
    "dist",
    "label",
    "answer",
    "correct",
    "response_ms",
    "answered_at",
    "stimuli_digest",
]


def tidy_answers(sets: StimulusSets, answers: pd.DataFrame, population: str) -> pd.DataFrame:
    """Join answers (ANSWER_COLUMNS) with the stimuli they answer; unknown subjects or images are an error."""
    if population not in POPULATIONS:
        raise DataError(f"unknown population {population!r}; known: {list(POPULATIONS)}")
    missing = [column for column in ANSWER_COLUMNS if column not in answers.columns]
    if missing:
        raise DataError(f"answers lack the column(s) {missing}")
    set_index = {set_id: index for index, set_id in enumerate(sets.set_ids)}
    unknown = sorted(set(answers["subject_id"].astype(str)) - set(set_index))
    if unknown:
        raise DataError(f"answers of subject(s) {unknown[:5]} who have no set in the stimulus file")
    rows = answers["subject_id"].astype(str).map(set_index).to_numpy(dtype=np.int64)
    images = answers["image_id"].to_numpy(dtype=np.int64)
    if len(images) and (images.min() < 0 or images.max() >= sets.images_per_set):
        raise DataError(f"answers name image ids outside 0..{sets.images_per_set - 1}")
    labels = sets.labels[rows, images]
    given = answers["answer"].to_numpy(dtype=np.int64)
    return pd.DataFrame(
        {
            "population": population,
            "subject_id": answers["subject_id"].astype(str).to_numpy(),
            "image_id": images,
            "noise": sets.noise[rows, images].astype(str),
            "level": sets.level[rows, images],
            "dist": sets.dist[rows, images],
            "label": labels,
            "answer": given,
            "correct": given == labels,
            "response_ms": answers["response_ms"].to_numpy(),
            "answered_at": answers["answered_at"].astype(str).to_numpy(),
            "stimuli_digest": sets.digest,
        },
        columns=TIDY_COLUMNS,
    )


def read_responses(path: PathLike, sets: StimulusSets) -> pd.DataFrame:
    """Human (or simulated) answers from a response database or an exported CSV, checked
    against the stimulus file they were given on."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return _read_export(path, sets)
    responses = read_database(path)
    if responses.stimuli_digest not in (None, sets.digest):
        raise DataError(
            f"{path} was recorded against stimulus file digest {responses.stimuli_digest[:12]}, "
            f"but the stimulus file has {sets.digest[:12]}: analyse it with the stimulus file it was served from"
        )
    return tidy_answers(sets, responses.answers, SIMULATED if responses.simulated else HUMAN)


def _read_export(path: Path, sets: StimulusSets) -> pd.DataFrame:
    try:
        exported = pd.read_csv(path, dtype={"subject_id": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not a readable responses CSV: {exc}") from exc
    missing = [column for column in ("population", "stimuli_digest", *ANSWER_COLUMNS) if column not in exported.columns]
    if missing:
        raise DataError(f"{path} lacks the column(s) {missing} of an exported responses CSV")
    digests = set(exported["stimuli_digest"])
    populations = set(exported["population"])
    if digests - {sets.digest}:
        raise DataError(
            f"{path} answers another stimulus file (digest {sorted(digests)[0][:12]}, here {sets.digest[:12]})"
        )
    if len(populations) > 1 or populations - {HUMAN, SIMULATED}:
        raise DataError(f"{path}: population must be all {HUMAN!r} or all {SIMULATED!r}, found {sorted(populations)}")
    # Rebuilt from the stimulus file, so an edited label or noise column cannot slip in.
    return tidy_answers(sets, exported[ANSWER_COLUMNS], populations.pop() if populations else HUMAN)
