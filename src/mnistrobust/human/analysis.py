"""The comparison of Section 5.4: accuracy per noise type and level of humans and of 20 LeNets.

Each subject (or LeNet) contributes one accuracy per noise type and level, over the images
of its own set; across subjects come mean, standard deviation and the t-based confidence
region. Human answers are only ever read from the response database or its export; when
there are none, the LeNet side is produced alone and the figure and log say so. The files
are read and written by ``mnistrobust.jobs.human``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..errors import CheckpointError, ConfigError
from ..io.hdf5 import StimulusSets
from .statistics import summarize
from .stimuli import images_as_tensor
from .tidy import LENET, SIMULATED, TIDY_COLUMNS, tidy_answers
from ..progress import Log


UNIT_KEYS = ["population", "subject_id", "noise", "level"]
SUMMARY_KEYS = ["population", "noise", "level"]


def lenet_answers(
    sets: StimulusSets,
    networks: Mapping[str, tuple[nn.Module, dict]],
    device: str | torch.device = "cpu",
    log: Log = print,
) -> pd.DataFrame:
    """Each LeNet (model, checkpoint meta) classifies its own set of the ``lenets`` file; the answers, tidy."""
    if sets.attrs.get("group") != "lenets":
        raise ConfigError(f"the stimulus file holds the {sets.attrs.get('group')!r} sets, not the LeNets'")
    if sorted(networks) != sorted(sets.set_ids):
        raise ConfigError(f"the stimulus file has sets for {sets.set_ids}, checkpoints were given for {sorted(networks)}")
    frames = []
    for index, name in enumerate(sets.set_ids):
        model, meta = networks[name]
        if meta.get("name") != name:
            raise CheckpointError(f"the checkpoint for {name!r} holds model {meta.get('name')!r}")
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
    return pd.concat(frames, ignore_index=True)


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


def human_side(tidy: pd.DataFrame, images_per_set: int, source: str, log: Log) -> tuple[pd.DataFrame, list[str]]:
    """Complete subjects' tidy answers (maybe none) of all that ``source`` recorded, and the
    notes the figure must carry."""
    tidy, incomplete = complete_only(tidy, images_per_set)
    notes = []
    if incomplete:
        log(f"left out {len(incomplete)} subject(s) who have not answered all {images_per_set} images: {incomplete}")
    if tidy.empty:
        notes.append(f"No complete human responses yet ({len(incomplete)} subject(s) in progress): LeNet side only")
        log(f"WARNING: {notes[-1]}")
    elif (tidy["population"] == SIMULATED).any():
        notes.append("SIMULATED subjects (test data): not human responses")
        log(f"WARNING: {source} holds {notes[-1]}")
    else:
        log(f"human side: {tidy['subject_id'].nunique()} complete subject(s) from {source}")
    return tidy, notes


def no_human_side(source: str, log: Log) -> tuple[pd.DataFrame, list[str]]:
    note = f"No human responses yet ({source}): LeNet side only"
    log(f"WARNING: {note}; run the experiment page to collect them")
    return pd.DataFrame(columns=TIDY_COLUMNS), [note]


def summarize_study(
    sets: StimulusSets,
    lenets: pd.DataFrame,
    humans: pd.DataFrame,
    confidence: float = 0.95,
    log: Log = print,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Accuracies per subject/model and their summary across subjects/models (with each
    level's design dist), over the subjects' stimulus file ``sets``."""
    frames = [frame for frame in (lenets, humans) if not frame.empty]
    per_unit = accuracy_per_unit(pd.concat(frames, ignore_index=True))
    summary = summarize(per_unit, SUMMARY_KEYS, "accuracy", confidence)
    design = pd.DataFrame(sets.levels)[["noise", "level", "design_dist"]]
    summary = summary.merge(design, on=["noise", "level"], how="left")
    for row in summary.itertuples():
        log(
            f"{row.population:9s} {row.noise:8s} level {row.level:<5g} n={row.n:<3d} "
            f"accuracy {row.mean:.3f} sd {row.sd:.3f}"
        )
    return per_unit, summary
