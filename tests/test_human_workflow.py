"""The human-study rules as a user runs them: Figure 8 without answers (LeNet side and a
note), then again once a response database exists, and a LeNet name that is not a model."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import yaml
from conftest import SMALL_CONFIG, run_snakemake

FIGURE = "results/human/fig8_humans_vs_lenets.png"


def small_human_config(tmp_path, **human):
    """The small config with two quickly trained LeNets (the rules, not the models, are under test)."""
    config = yaml.safe_load(SMALL_CONFIG.read_text())
    config["models"]["lenet"]["iterations"] = 30
    config["models"]["lenet_inp"]["iterations"] = 30
    config["human"] = {**config["human"], "lenet_models": ["lenet", "lenet_inp"], **human}
    path = tmp_path / "human.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.mark.slow
def test_figure8_without_answers_then_with_a_response_database(tmp_path, mnist_dir):
    from mnistrobust.human.simulated import simulate_subjects

    workdir = tmp_path / "run"
    config = small_human_config(tmp_path)
    run_snakemake(workdir, mnist_dir, FIGURE, config=config)
    results = workdir / "results" / "human"
    assert (results / "fig8_humans_vs_lenets.png").stat().st_size > 10_000
    assert "No human responses yet" in (workdir / "results/logs/human_analysis.log").read_text()
    summary = pd.read_csv(results / "accuracy_summary.csv")
    assert set(summary["population"]) == {"lenet"} and (summary["n"] == 2).all()

    # Answers arrive later (here from simulated subjects: tests never invent human data):
    # the database becomes an input, so only the analysis is planned again (how it reads
    # and labels them is tested in test_human_analysis.py).
    simulate_subjects(results / "subjects_stimuli.h5", workdir / "human_study" / "responses.sqlite")
    planned = run_snakemake(workdir, mnist_dir, "-n", FIGURE, config=config)
    assert set(re.findall(r"^(\w+)\s+\d+\s*$", planned.stdout, flags=re.MULTILINE)) == {"human_analysis", "total"}
    assert "human_study/responses.sqlite" in planned.stdout


def test_a_lenet_model_that_is_not_configured_is_named(tmp_path, mnist_dir):
    result = run_snakemake(
        tmp_path,
        mnist_dir,
        "-n",
        FIGURE,
        config=small_human_config(tmp_path, lenet_models=["lenet", "lenet_ghost"]),
        check=False,
    )
    assert result.returncode != 0 and "lenet_ghost" in result.stdout + result.stderr
