"""The human study's command line: its defaults are the workflow's files, a user's mistake
is one line on stderr, and ``export`` writes every stored answer."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import yaml

from mnistrobust.human.__main__ import DEFAULT_DB, DEFAULT_STIMULI, main
from mnistrobust.human.simulated import simulate_subjects

REPO = Path(__file__).resolve().parents[1]


def test_defaults_are_the_files_the_workflow_writes_and_reads():
    common = (REPO / "workflow" / "rules" / "common.smk").read_text()
    pattern = re.search(r'^HUMAN_STIMULI = "(.+)"$', common, flags=re.MULTILINE).group(1)
    assert DEFAULT_STIMULI == pattern.format(group="subjects")
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    assert DEFAULT_DB == config["human"]["responses"]


def test_a_missing_stimulus_file_is_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "responses.csv"
    code = main(["export", "--stimuli", str(tmp_path / "absent.h5"), "--db", str(tmp_path / "r.sqlite"), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and "absent.h5" in err
    assert not out.exists()


def test_export_writes_every_answer(tiny_stimuli, tmp_path, capsys):
    db = tmp_path / "responses.sqlite"
    answers = simulate_subjects(tiny_stimuli, db, subject_ids=["s01", "s02"])
    out = tmp_path / "responses.csv"
    assert main(["export", "--stimuli", str(tiny_stimuli), "--db", str(db), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {answers} answers to {out}"
    tidy = pd.read_csv(out)
    assert len(tidy) == answers == 2 * 20
    assert set(tidy["subject_id"]) == {"s01", "s02"}
