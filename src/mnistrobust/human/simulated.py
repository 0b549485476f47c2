"""Simulated subjects, for tests only: they exercise the store, the server and the analysis.

They are not data. Every database they write is flagged simulated, the analysis then
labels them "SIMULATED subjects" in its tables, log and figure, and a store refuses to
mix them with real subjects.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ..io.hdf5 import StimulusSets, load_stimuli
from .responses import ResponseStore
from .stimuli import USPS

PathLike = str | os.PathLike


def _chance_right(noise: str, dist: float) -> float:
    # A made-up, plainly declining skill: near-perfect on clean digits, worse with distortion.
    if noise == USPS:
        return 0.85
    return float(np.clip(0.98 - 2.0 * dist, 0.1, 1.0))


def simulated_answers(sets: StimulusSets, subject_id: str, seed: int = 0) -> list[tuple[int, int, int]]:
    """(image id, answer, response ms) for every image of the subject's set, in presentation order."""
    index = sets.set_index(subject_id)
    rng = np.random.default_rng([seed, index])
    plan = []
    for image_id in range(sets.images_per_set):
        label = int(sets.labels[index, image_id])
        right = rng.random() < _chance_right(sets.noise[index, image_id], float(sets.dist[index, image_id]))
        answer = label if right else int((label + rng.integers(1, 10)) % 10)
        plan.append((image_id, answer, int(rng.integers(400, 3000))))
    return plan


def simulate_subjects(
    stimuli_path: PathLike, db_path: PathLike, subject_ids: Sequence[str] | None = None, seed: int = 0
) -> int:
    """Let simulated subjects answer their whole sets into a database flagged simulated; returns the answer count."""
    sets = load_stimuli(stimuli_path)
    store = ResponseStore(db_path, sets.digest, simulated=True)
    count = 0
    for subject_id in subject_ids or sets.set_ids:
        store.register(subject_id)
        for image_id, answer, response_ms in simulated_answers(sets, subject_id, seed):
            count += store.record(subject_id, image_id, answer, response_ms).stored
    return count
