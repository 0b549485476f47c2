"""Jobs of workflow/rules/human.smk: the stimulus files, the LeNets' answers and the analysis
with Figure 8. The experiment itself (page, response database, its command line) is the
subpackage ``mnistrobust.human``; these functions read and write the rules' files around it."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import torch

from ..data import load_split, load_usps
from ..errors import ConfigError, DataError
from ..human.analysis import human_side, no_human_side, summarize_study
from ..human.analysis import lenet_answers as classify_own_sets
from ..human.figure8 import figure8
from ..human.stimuli import StimulusPools, draw_stimulus_sets, stimulus_set_ids
from ..human.tidy import LENET, TIDY_COLUMNS, read_responses
from ..io.checkpoints import load_model
from ..io.hdf5 import load_sign_map, load_stimuli, save_stimuli
from ..io.storage import save_figure, write_csv
from ..progress import Log

PathLike = str | os.PathLike


def build_stimulus_file(
    mnist_h5: PathLike,
    usps_h5: PathLike,
    sign_map: PathLike,
    output: PathLike,
    group: str,
    sets: int | Sequence[str],
    settings: Mapping,
    test_images: int,
    log: Log = print,
) -> None:
    """Draw one set per subject or LeNet and write them to ``output``.

    ``sets`` names the sets (LeNet model names), or counts them: subjects get ids s01, s02, ...
    """
    set_ids = stimulus_set_ids(group, sets, settings)
    mnist, labels = load_split(mnist_h5, "test", limit=test_images)
    sign, sign_attrs = load_sign_map(sign_map)
    if len(sign) < len(mnist):
        raise DataError(f"sign map {sign_map} covers {len(sign)} test images, the stimuli draw from {len(mnist)}")
    usps, usps_labels = load_usps(usps_h5)
    sign_model = str(sign_attrs.get("model", "?"))
    pools = StimulusPools.prepare(mnist, labels, sign, sign_model, usps, usps_labels, settings)
    drawn = draw_stimulus_sets(pools, group, set_ids, settings, log)
    save_stimuli(output, drawn.set_ids, drawn.stacked, drawn.levels, drawn.attrs)
    log(
        f"wrote {len(set_ids)} {settings['mode']} set(s) of {drawn.stacked['labels'].shape[1]} images to {output} "
        f"(digest {drawn.attrs['digest'][:12]})"
    )


def lenet_answers(
    stimuli_path: PathLike,
    checkpoints: Mapping[str, PathLike],
    output: PathLike,
    device: str | torch.device = "cpu",
    log: Log = print,
) -> None:
    """Each LeNet classifies its own stimulus set (the ``lenets`` file); the answers as a tidy CSV."""
    sets = load_stimuli(stimuli_path)
    networks = {name: load_model(path) for name, path in checkpoints.items()}
    try:
        answers = classify_own_sets(sets, networks, device, log)
    except ConfigError as exc:
        raise ConfigError(f"{stimuli_path}: {exc}") from exc
    write_csv(answers, output)


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
    if responses is None or not Path(responses).exists():
        humans, notes = no_human_side(str(responses), log)
    else:
        humans, notes = human_side(read_responses(responses, sets), sets.images_per_set, str(responses), log)
    write_csv(humans, responses_csv)
    per_unit, summary = summarize_study(sets, lenets, humans, confidence, log)
    write_csv(per_unit, per_unit_csv)
    write_csv(summary, summary_csv)
    save_figure(figure8(summary, notes, confidence), figure)
    return summary


def export_responses(stimuli_path: PathLike, db_path: PathLike, output: PathLike) -> int:
    """Write the tidy responses CSV for sharing (``python -m mnistrobust.human export``);
    returns the number of answers."""
    tidy = read_responses(db_path, load_stimuli(stimuli_path))
    write_csv(tidy, output)
    return len(tidy)


def _read_lenet_answers(path: PathLike) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype={"subject_id": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path} is not a readable LeNet answers CSV: {exc}") from exc
    if list(frame.columns) != TIDY_COLUMNS or set(frame["population"]) != {LENET}:
        raise DataError(f"{path} is not a LeNet answers CSV (columns {TIDY_COLUMNS}, population {LENET!r})")
    return frame
