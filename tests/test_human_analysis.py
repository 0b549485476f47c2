"""Analysis: LeNet answers, per-subject accuracies, the human side only from real records
(none: LeNet side with a note; simulated: labelled so), the export, Figure 8."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from human_support import TINY_DESIGN, build

from mnistrobust.errors import ConfigError, DataError
from mnistrobust.human.analysis import accuracy_per_unit
from mnistrobust.human.responses import ResponseStore
from mnistrobust.human.simulated import simulate_subjects
from mnistrobust.human.stimuli import images_as_tensor
from mnistrobust.human.tidy import TIDY_COLUMNS
from mnistrobust.io.checkpoints import save_checkpoint
from mnistrobust.io.hdf5 import load_stimuli
from mnistrobust.jobs.human import analyse, export_responses, lenet_answers
from mnistrobust.nets.models import build_model

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LENETS = ["lenet", "lenet_seed2"]


@pytest.fixture(scope="module")
def study(human_inputs, tmp_path_factory):
    """Stimuli of 3 subjects and 2 LeNets (tiny design), the LeNets' checkpoints and answers."""
    folder = tmp_path_factory.mktemp("study")
    subjects = build(human_inputs, folder / "subjects_stimuli.h5", sets=3, settings=TINY_DESIGN)
    lenets = build(human_inputs, folder / "lenets_stimuli.h5", group="lenets", sets=LENETS, settings=TINY_DESIGN)
    checkpoints = {}
    for seed, name in enumerate(LENETS, start=1):
        torch.manual_seed(seed)
        checkpoints[name] = folder / f"{name}.pt"
        save_checkpoint(
            checkpoints[name], build_model("lenet", {}), {"arch": "lenet", "dropout": {}, "seed": seed, "name": name}
        )
    answers = folder / "lenet_answers.csv"
    lenet_answers(lenets, checkpoints, answers, log=lambda _m: None)
    return {"folder": folder, "subjects": subjects, "lenets": lenets, "checkpoints": checkpoints, "answers": answers}


def run_analysis(study, tmp_path, responses):
    messages = []
    outputs = {name: tmp_path / f"{name}.csv" for name in ("per_unit", "summary", "responses")}
    summary = analyse(
        study["subjects"],
        study["answers"],
        responses,
        per_unit_csv=outputs["per_unit"],
        summary_csv=outputs["summary"],
        responses_csv=outputs["responses"],
        figure=tmp_path / "fig8.png",
        log=messages.append,
    )
    assert (tmp_path / "fig8.png").read_bytes().startswith(PNG_MAGIC)
    return summary, "\n".join(messages), outputs


def test_each_lenet_answers_its_own_set_with_its_own_prediction(study):
    answers = pd.read_csv(study["answers"])
    sets = load_stimuli(study["lenets"])
    assert list(answers.columns) == TIDY_COLUMNS and set(answers["population"]) == {"lenet"}
    assert answers.groupby("subject_id").size().to_dict() == {name: 20 for name in LENETS}
    for index, name in enumerate(LENETS):
        model = torch.load(study["checkpoints"][name], weights_only=True)
        network = build_model("lenet", {})
        network.load_state_dict(model["state_dict"])
        with torch.no_grad():
            expected = network.eval()(images_as_tensor(sets, index)).argmax(1).numpy()
        mine = answers[answers["subject_id"] == name].sort_values("image_id")
        assert np.array_equal(mine["answer"], expected)
        assert np.array_equal(mine["correct"], expected == sets.labels[index])


def test_lenet_checkpoints_must_match_the_sets(study, tmp_path):
    with pytest.raises(ConfigError, match="checkpoints were given"):
        lenet_answers(study["lenets"], {"lenet": study["checkpoints"]["lenet"]}, tmp_path / "x.csv")
    with pytest.raises(ConfigError, match="not the LeNets'"):
        lenet_answers(study["subjects"], study["checkpoints"], tmp_path / "x.csv")


def test_accuracy_per_subject_and_level_on_a_known_case():
    tidy = pd.DataFrame(
        {
            "population": "human",
            "subject_id": ["a", "a", "a", "b", "b", "b"],
            "noise": ["gaussian", "gaussian", "usps", "gaussian", "gaussian", "usps"],
            "level": [0.2, 0.2, np.nan, 0.2, 0.2, np.nan],
            "dist": [0.1, 0.12, np.nan, 0.1, 0.1, np.nan],
            "correct": [True, False, True, True, True, False],
        }
    )
    per_unit = accuracy_per_unit(tidy)
    assert per_unit[["subject_id", "noise", "accuracy", "images"]].values.tolist() == [
        ["a", "gaussian", 0.5, 2],
        ["a", "usps", 1.0, 1],
        ["b", "gaussian", 1.0, 2],
        ["b", "usps", 0.0, 1],
    ]


def test_without_responses_the_lenet_side_is_produced_with_a_clear_note(study, tmp_path):
    summary, log, outputs = run_analysis(study, tmp_path, tmp_path / "no_such.sqlite")
    assert set(summary["population"]) == {"lenet"}
    assert "No human responses yet" in log
    assert len(summary) == 1 + 2 + 2 + 1  # natural, 2 Gaussian levels, 2 gradient-sign levels, USPS
    assert (summary["n"] == 2).all()
    assert pd.read_csv(outputs["responses"]).empty


def test_simulated_subjects_are_labelled_simulated_everywhere(study, tmp_path):
    db = tmp_path / "responses.sqlite"
    assert simulate_subjects(study["subjects"], db) == 3 * 20
    summary, log, outputs = run_analysis(study, tmp_path, db)
    assert set(summary["population"]) == {"lenet", "simulated"}
    assert "SIMULATED" in log and "human" not in set(pd.read_csv(outputs["per_unit"])["population"])
    assert set(pd.read_csv(outputs["responses"])["population"]) == {"simulated"}
    simulated = summary[summary["population"] == "simulated"]
    assert (simulated["n"] == 3).all() and simulated["mean"].between(0, 1).all()


def test_human_answers_give_per_subject_accuracies_and_incomplete_subjects_are_left_out(study, tmp_path):
    """Answers recorded as a real study would (the store, not the simulator): s01 answers
    everything right, s02 everything 0, s03 only half of its set."""
    sets = load_stimuli(study["subjects"])
    db = tmp_path / "responses.sqlite"
    store = ResponseStore(db, sets.digest)
    for subject, count in (("s01", 20), ("s02", 20), ("s03", 10)):
        store.register(subject)
        row = sets.set_index(subject)
        for image_id in range(count):
            store.record(subject, image_id, int(sets.labels[row, image_id]) if subject == "s01" else 0, 900)
    summary, log, outputs = run_analysis(study, tmp_path, db)
    assert "left out 1 subject(s)" in log and "s03" in log
    per_unit = pd.read_csv(outputs["per_unit"])
    humans = per_unit[per_unit["population"] == "human"]
    assert set(humans["subject_id"]) == {"s01", "s02"}
    assert (humans[humans["subject_id"] == "s01"]["accuracy"] == 1.0).all()
    row = sets.set_index("s02")
    for noise_level, group in humans[humans["subject_id"] == "s02"].groupby(["noise", "level"], dropna=False):
        noise, level = noise_level
        at = (sets.noise[row] == noise) & (
            np.isnan(sets.level[row]) if pd.isna(level) else np.isclose(sets.level[row], level)
        )
        assert group["accuracy"].item() == pytest.approx(np.mean(sets.labels[row][at] == 0))
    human_natural = summary[(summary["population"] == "human") & (summary["noise"] == "natural")].iloc[0]
    assert human_natural["n"] == 2


def test_export_is_tidy_without_personal_data_and_analyses_like_the_database(study, tmp_path):
    db = tmp_path / "responses.sqlite"
    simulate_subjects(study["subjects"], db)
    exported = tmp_path / "responses_export.csv"
    assert export_responses(study["subjects"], db, exported) == 60
    frame = pd.read_csv(exported)
    assert list(frame.columns) == TIDY_COLUMNS  # subject id is the only field about a person
    from_db, _, _ = run_analysis(study, tmp_path / "db", db)
    from_csv, _, _ = run_analysis(study, tmp_path / "csv", exported)
    pd.testing.assert_frame_equal(from_db, from_csv)


def test_responses_of_another_stimulus_file_are_refused(study, tmp_path):
    db = tmp_path / "responses.sqlite"
    ResponseStore(db, "0" * 64)
    with pytest.raises(DataError, match="recorded against stimulus file digest"):
        run_analysis(study, tmp_path, db)
    edited = tmp_path / "edited.csv"
    pd.DataFrame([{column: "x" for column in TIDY_COLUMNS}]).to_csv(edited, index=False)
    with pytest.raises(DataError, match="answers another stimulus file"):
        run_analysis(study, tmp_path, edited)
