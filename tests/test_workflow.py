"""The workflow as a user runs it on the small config end to end: every output, the report,
determinism, reruns of single targets, and recovery from a hard kill. (Dry runs and bad
input: test_workflow_dry_runs.py, so that they run beside this file under pytest -n.)"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import h5py
import pandas as pd
import pytest
import torch
import yaml

from conftest import REPO, SMALL_CONFIG, dry_run, run_snakemake, small_config_with, snakemake_command

# Every test here runs Snakemake for real (the small run, reruns, kills).
pytestmark = pytest.mark.slow

FIGURES = [
    "fig1_noise_examples",
    "baseline_error_vs_dist",
    "fig3_dropout_adversarial",
    "fig4_dropout_gaussian",
    "fig5_preprocessing_adversarial",
    "fig6_preprocessing_gaussian",
    "fig7_committees_adversarial",
    "committees_gaussian",
]
OUTPUTS = [
    "results/tables/table2.csv",
    "results/tables/table2.md",
    "results/tables/lowpass_clean_error.csv",
    *[f"results/figures/{figure}.png" for figure in FIGURES],
]
TABLE2_ROWS = [
    "No method",
    "Dropout",
    "Low-pass filter",
    "DAE",
    "Low-pass filter + dropout",
    "DAE + dropout",
    "Standard committee",
    "Adversarial training after 5 stages",
    "Committee of models trained on adv. examples",
]
# Targets that exercise every kind of job but not the whole DAG (for reruns).
LENET_CURVES = ["results/sweeps/lenet/gaussian.csv", "results/sweeps/lenet/fgsm.csv"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FIGURE8 = "results/human/fig8_humans_vs_lenets.png"


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, mnist_dir) -> Path:
    workdir = tmp_path_factory.mktemp("small_run")
    run_snakemake(workdir, mnist_dir)
    return workdir


def test_small_config_produces_every_table_and_figure(small_run):
    for output in OUTPUTS:
        assert (small_run / output).stat().st_size > 0, output
    for figure in FIGURES:
        assert (small_run / "results/figures" / f"{figure}.png").read_bytes()[:8] == PNG_MAGIC
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    levels = yaml.safe_load(SMALL_CONFIG.read_text())["evaluation"]["levels"]
    curves = sorted((small_run / "results/sweeps").glob("*/*.csv"))
    # 14 methods x (gaussian, fgsm) + the 8 with preprocessing oblivious + the plug-in
    # example's gaussian, oblivious and BPDA (no plain fgsm: its gradient is zero)
    assert len(curves) == 39
    for path in curves:
        curve = pd.read_csv(path)
        assert list(curve.columns) == ["model", "noise", "level", "strength", "dist", "error"], path
        assert len(curve) == levels and curve["dist"].iloc[0] == 0 and curve["dist"].max() >= 0.2, path
        assert curve["error"].between(0, 1).all(), path
        assert (curve["model"] == path.parent.name).all() and (curve["noise"] == path.stem).all()
    for noise in ("gaussian", "fgsm"):
        lenet = pd.read_csv(small_run / f"results/sweeps/lenet/{noise}.csv")
        # More noise never helps much: the last level is far worse than the clean set.
        assert lenet["error"].iloc[-1] > lenet["error"].iloc[0] + 0.3
    table = pd.read_csv(small_run / "results/tables/table2.csv")
    labels = [row["label"] for row in config["table2"]["rows"]]
    assert list(table["method"]) == [label for label in labels for _ in range(3)]
    assert set(TABLE2_ROWS) <= set(labels)
    assert list(table["dist"]) == [0.0, 0.1, 0.2] * len(labels)
    assert table["ours_pct"].notna().all()
    paper = table[table["method"].isin(TABLE2_ROWS)]
    assert paper["paper_pct"].notna().all() and table[~table["method"].isin(TABLE2_ROWS)]["paper_pct"].isna().all()
    assert table.loc[table["method"] == "No method", "paper_pct"].tolist() == [0.83, 73.6, 96.1]
    assert table.loc[table["method"] == "Committee of models trained on adv. examples", "paper_pct"].tolist() == [0.65, 9.8, 36.5]
    for row in config["table2"]["rows"]:
        in_row = table["method"] == row["label"]
        clean = pd.read_csv(small_run / f"results/sweeps/{row['method']}/{row['noise']}.csv")["error"].iloc[0]
        assert table.loc[in_row, "curve_pct"].iloc[0] == pytest.approx(100 * clean, abs=1e-3)  # the curve at dist 0
        assert (table.loc[in_row, "attack"] == row["noise"]).all()
        cells = pd.read_csv(small_run / f"results/table2_cells/{row['method']}/{row['noise']}.csv")
        assert list(table.loc[in_row, "ours_pct"]) == pytest.approx(100 * cells["error"], abs=1e-3)
        if not row["method"].startswith("lowpass"):  # deterministic: measured and read-off clean errors agree
            assert table.loc[in_row, "ours_pct"].iloc[0] == pytest.approx(100 * clean, abs=1e-3)
    # The paper's preprocessing rows are attacked obliviously; end to end they are extra rows.
    for label in ("DAE", "DAE + dropout", "Low-pass filter", "Low-pass filter + dropout"):
        assert set(table.loc[table["method"] == label, "attack"]) == {"fgsm_oblivious"}
        assert set(table.loc[table["method"] == f"{label}, end to end", "attack"]) == {"fgsm"}
    # The plug-in example: the literal gradient of a 1-bit input is zero, BPDA's is not.
    bpda = pd.read_csv(small_run / "results/sweeps/bitdepth1_lenet/fgsm_bpda.csv")
    assert bpda["error"].iloc[-1] > bpda["error"].iloc[0] + 0.3
    assert set(table.loc[table["paper_pct"].notna(), "verdict"]) <= {"reproduced", "differs"}
    assert (table.loc[table["paper_pct"].isna(), "verdict"].fillna("") == "").all()
    markdown = (small_run / "results/tables/table2.md").read_text()
    assert all(f"| {label} (" in markdown for label in labels)
    assert "Reproduced: " in markdown.splitlines()[-1]
    calibration = pd.read_csv(small_run / "results/tables/lowpass_clean_error.csv")
    assert set(calibration["filter"]) == {"lowpass3", "lowpass5", "lowpass7"}
    assert calibration["clean_error_pct"].between(0, 100).all() and calibration["configured"].sum() == 3
    checkpoint = torch.load(small_run / "results/models/lenet.pt", weights_only=True)
    assert checkpoint["meta"]["seed"] == 1 and checkpoint["meta"]["solver"]["iterations"] == 150
    stage5 = torch.load(small_run / "results/adversarial/stage5.pt", weights_only=True)["meta"]
    assert (stage5["name"], stage5["parent"], stage5["start_iteration"]) == ("adv_stage5", "adv_stage4", 150 + 4 * 20)
    with h5py.File(small_run / "results/adversarial/pool_stage3.h5") as pool:
        assert (pool.attrs["stage"], pool.attrs["source_model"], pool.attrs["eps"]) == (3, "adv_stage2", 0.2)
        assert pool["images"].shape == (2000, 1, 28, 28)
    for rule_log in ("mnist.log", "train_model/lenet.log", "sweep/lenet/fgsm.log", "train_dae.log", "adversarial_stage/stage5.log"):
        # The job's own last line (progress lines say "done" too, when their count is complete).
        assert (small_run / "results/logs" / rule_log).read_text().splitlines()[-1].endswith("] done"), rule_log


def test_report_is_browsable_html(small_run, mnist_dir):
    run_snakemake(small_run, mnist_dir, "--report", "report.html")
    html = (small_run / "report.html").read_text(errors="replace")
    assert "<html" in html.lower() and "table2.csv" in html


def test_figure8_without_answers_then_with_a_response_database(small_run, mnist_dir):
    from mnistrobust.human.simulated import simulate_subjects

    results = small_run / "results" / "human"
    assert (small_run / FIGURE8).stat().st_size > 10_000
    assert "No human responses yet" in (small_run / "results/logs/human_analysis.log").read_text()
    summary = pd.read_csv(results / "accuracy_summary.csv")
    lenets = yaml.safe_load(SMALL_CONFIG.read_text())["human"]["lenet_models"]
    assert set(summary["population"]) == {"lenet"} and (summary["n"] == len(lenets)).all()

    # Answers arrive later (here from simulated subjects: tests never invent human data):
    # the database becomes an input, so only the analysis is planned again (how it reads
    # and labels them is tested in test_human_analysis.py). The database is removed after,
    # so the other tests see the small run as it was.
    try:
        simulate_subjects(results / "subjects_stimuli.h5", small_run / "human_study" / "responses.sqlite")
        planned = dry_run(small_run, mnist_dir, FIGURE8)
        assert planned.jobs == {"human_analysis": 1}
        assert "human_study/responses.sqlite" in planned.output
    finally:
        shutil.rmtree(small_run / "human_study", ignore_errors=True)


RERUN_TARGETS = [
    *LENET_CURVES,
    "results/adversarial/stage1.pt",
    "results/sweeps/lowpass5_lenet/gaussian.csv",
    "results/sweeps/lowpass5_lenet/fgsm.csv",
    "results/sweeps/dae_lenet/fgsm.csv",
]


def test_changing_an_evaluation_parameter_reruns_the_sweep_not_the_training(small_run, mnist_dir, tmp_path):
    changed = small_config_with(tmp_path, {"evaluation": {"levels": 7}})
    jobs = dry_run(small_run, mnist_dir, "results/sweeps/lenet/gaussian.csv", config=changed).jobs
    assert jobs.get("sweep") == 1
    assert "train_model" not in jobs and "mnist" not in jobs


def test_one_stage_can_be_rerun_alone(small_run, mnist_dir):
    assert dry_run(small_run, mnist_dir, "results/adversarial/stage3.pt", force=True).jobs == {"adversarial_stage": 1}


def _kill_when(workdir: Path, mnist_dir: Path, log: str, pattern: str) -> None:
    """Run the LeNet curves and SIGKILL the whole run once ``pattern`` shows in ``log``."""
    process = subprocess.Popen(
        snakemake_command(workdir, mnist_dir, *LENET_CURVES),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    log_path = workdir / "results/logs" / log
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if log_path.exists() and re.search(pattern, log_path.read_text()):
                os.killpg(process.pid, signal.SIGKILL)
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"never saw {pattern!r} in {log_path} before the run ended")
    finally:
        process.wait(timeout=60)


def test_hard_kills_leave_nothing_finished_and_the_rerun_is_bit_identical(small_run, tmp_path, mnist_dir):
    # One workdir, killed twice: in training, then (on the rerun) in a sweep, as soon as the
    # sweep job has started (its first log line: progress lines come at most every few
    # seconds, and a small sweep may print its first when it is done). Then the rerun, in
    # another directory from the same seeds, must give the small run's checkpoints and
    # curves bit for bit (LeNet, DAE, an adversarial stage, low-pass and DAE sweeps).
    workdir = tmp_path / "work"
    for log, pattern, unfinished in [
        ("train_model/lenet.log", r"iteration 50/", "results/models/lenet.pt"),
        ("sweep/lenet/fgsm.log", r"thread\(s\)", "results/sweeps/lenet/fgsm.csv"),
    ]:
        _kill_when(workdir, mnist_dir, log, pattern)
        assert not (workdir / unfinished).exists(), unfinished
        subprocess.run(snakemake_command(workdir, mnist_dir, "--unlock"), check=True, capture_output=True)
    run_snakemake(workdir, mnist_dir, *RERUN_TARGETS)
    leftovers = [path for path in (workdir / "results").rglob("*") if ".tmp-" in path.name]
    assert leftovers == []
    for checkpoint in ("results/models/lenet.pt", "results/adversarial/stage1.pt", "results/dae/dae.pt"):
        first = torch.load(small_run / checkpoint, weights_only=True)["state_dict"]
        second = torch.load(workdir / checkpoint, weights_only=True)["state_dict"]
        assert first.keys() == second.keys(), checkpoint
        assert all(torch.equal(first[key], second[key]) for key in first), checkpoint
    for curve in [target for target in RERUN_TARGETS if target.endswith(".csv")]:
        assert (small_run / curve).read_bytes() == (workdir / curve).read_bytes(), curve


def test_moving_the_data_folder_reruns_nothing(small_run, mnist_dir, tmp_path):
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    for source in mnist_dir.iterdir():
        (moved / source.name).write_bytes(source.read_bytes())
    result = dry_run(small_run, moved)
    assert result.ok and "Nothing to be done" in result.output and result.jobs == {}, result.output


def test_a_config_written_in_another_key_order_reruns_nothing(small_run, mnist_dir, tmp_path):
    """Snakemake compares params by key order too; the Snakefile sorts the config once."""

    def reversed_keys(value):
        if isinstance(value, dict):
            return {key: reversed_keys(value[key]) for key in reversed(list(value))}
        if isinstance(value, list):
            return [reversed_keys(item) for item in value]
        return value

    def merged(base, override):  # as Snakemake merges a --configfile over config.yaml
        for key, value in override.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                merged(base[key], value)
            else:
                base[key] = value
        return base

    config = merged(yaml.safe_load((REPO / "config.yaml").read_text()), yaml.safe_load(SMALL_CONFIG.read_text()))
    reordered = tmp_path / "reordered.yaml"
    reordered.write_text(yaml.safe_dump(reversed_keys(config), sort_keys=False))
    result = dry_run(small_run, mnist_dir, config=str(reordered))
    assert result.ok and "Nothing to be done" in result.output and result.jobs == {}, result.output


def test_two_replicates_give_table2_intervals_and_figure_bands(small_run, mnist_dir, tmp_path):
    # The small run is replicate 1; a copy of it (files and Snakemake's records) gets
    # replicate 2 of three Table 2 rows (a classifier, the DAE, the committee's training
    # group) and of the baseline figure, not of the whole paper target, to keep this short.
    workdir = tmp_path / "replicated"
    shutil.copytree(small_run, workdir, symlinks=True)
    rows = [row for row in yaml.safe_load((REPO / "config.yaml").read_text())["table2"]["rows"] if row["label"] in (
        "No method", "DAE", "Standard committee")]  # fmt: skip
    config = small_config_with(tmp_path, {"replicates": 2, "table2": {"rows": rows}})
    figure = "results/figures/baseline_error_vs_dist.png"
    before = (workdir / figure).read_bytes()
    result = run_snakemake(workdir, mnist_dir, "results/tables/table2.csv", figure, config=config)
    assert "train_model[lenet]" not in result.stderr  # replicate 1 is reused, not retrained
    step = yaml.safe_load(SMALL_CONFIG.read_text())["replicate_seed_step"]
    for checkpoint in ("models/lenet.pt", "models/lenet_seed3.pt", "dae/dae.pt"):
        first = torch.load(workdir / "results" / checkpoint, weights_only=True)
        second = torch.load(workdir / "results/r2" / checkpoint, weights_only=True)
        assert first["meta"]["name"] == second["meta"]["name"], checkpoint
        assert second["meta"]["seed"] == first["meta"]["seed"] + step, checkpoint
        assert any(not torch.equal(first["state_dict"][key], second["state_dict"][key]) for key in first["state_dict"])
    for row in rows:
        assert (workdir / f"results/r2/sweeps/{row['method']}/{row['noise']}.csv").exists(), row
    table = pd.read_csv(workdir / "results/tables/table2.csv")
    assert list(dict.fromkeys(table["method"])) == [row["label"] for row in rows]
    assert (table["replicates"] == 2).all() and (table["interval"] == "min-max").all()
    assert ((table["low_pct"] <= table["ours_pct"] + 1e-9) & (table["ours_pct"] <= table["high_pct"] + 1e-9)).all()
    first = pd.read_csv(small_run / "results/table2_cells/lenet/fgsm.csv")
    second = pd.read_csv(workdir / "results/r2/table2_cells/lenet/fgsm.csv")
    assert list(table.loc[table["method"] == "No method", "replicate_pct"]) == [
        f"{100 * a:.4g}; {100 * b:.4g}" for a, b in zip(first["error"], second["error"])
    ]
    assert set(table.loc[table["method"] == "DAE", "attack"]) == {"fgsm_oblivious"}
    assert set(table["verdict"]) <= {"reproduced", "differs"}
    assert "the mean of 2 replicates" in (workdir / "results/tables/table2.md").read_text()
    assert (workdir / figure).read_bytes() != before  # now the means with their bands
