"""The workflow as a user runs it: dry runs, bad input, the small config end to end,
determinism, reruns of single targets, and recovery from a hard kill."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from conftest import REPO, SMALL_CONFIG, run_snakemake, snakemake_command

OUTPUTS = [
    "results/tables/table2.csv",
    "results/tables/table2.md",
    "results/figures/fig1_noise_examples.png",
    "results/figures/baseline_error_vs_dist.png",
]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def planned_jobs(stdout: str) -> dict[str, int]:
    """Parse the 'Job stats' table of a dry run into {rule: count}."""
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)\s*$", stdout, flags=re.MULTILINE) if rule != "total"}


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, mnist_dir) -> Path:
    workdir = tmp_path_factory.mktemp("small_run")
    run_snakemake(workdir, mnist_dir)
    return workdir


def test_default_dag_dry_run_plans_the_full_study(tmp_path, mnist_dir):
    result = run_snakemake(tmp_path, mnist_dir, "-n", config=str(REPO / "config.yaml"))
    jobs = planned_jobs(result.stdout)
    assert jobs == {
        "mnist": 1,
        "train_model": 1,
        "fgsm_sign_map": 1,
        "sweep": 2,
        "table2": 1,
        "figure1": 1,
        "baseline_curves": 1,
        "all": 1,
    }


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"evaluation": {"levels": 1}}, "levels"),
        ({"evaluation": {"max_strength": {"fgsm": -0.1}}}, "fgsm"),
        ({"models": {"lenet": {"arch": "resnet"}}}, "resnet"),
        ({"data": {"mnist_sources": ["ftp"]}}, "ftp"),
        ({"surprise": 1}, "surprise"),
        ({"baseline_model": "nosuch"}, "nosuch"),
    ],
)
def test_config_that_fails_its_schema_is_rejected_before_any_job(tmp_path, mnist_dir, override, named):
    bad = tmp_path / "bad.yaml"
    small = yaml.safe_load(SMALL_CONFIG.read_text())
    for key, value in override.items():
        small[key] = {**small.get(key, {}), **value} if isinstance(value, dict) and isinstance(small.get(key), dict) else value
    bad.write_text(yaml.safe_dump(small))
    result = run_snakemake(tmp_path, mnist_dir, "-n", config=str(bad), check=False)
    assert result.returncode != 0
    assert named in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("results/sweeps/nosuch/fgsm.csv", "unknown model 'nosuch'"),
        ("results/sweeps/lenet/saltpepper.csv", "unknown noise 'saltpepper'"),
    ],
)
def test_unknown_model_or_noise_in_a_target_names_it(tmp_path, mnist_dir, target, message):
    result = run_snakemake(tmp_path, mnist_dir, "-n", target, check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


def test_corrupt_data_file_stops_the_data_rule_and_leaves_nothing(tmp_path, mnist_dir):
    corrupt = tmp_path / "mnist_corrupt"
    corrupt.mkdir()
    for source in mnist_dir.iterdir():
        (corrupt / source.name).write_bytes(source.read_bytes())
    gz = corrupt / "t10k-labels-idx1-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[: len(gz.read_bytes()) // 2])
    workdir = tmp_path / "work"
    result = run_snakemake(workdir, corrupt, "results/data/mnist.h5", check=False)
    assert result.returncode != 0
    log = (workdir / "results/logs/mnist.log").read_text()
    assert "t10k-labels-idx1-ubyte" in log and "ERROR" in log
    assert not (workdir / "results/data").exists() or list((workdir / "results/data").iterdir()) == []


def test_small_config_produces_every_table_and_figure(small_run):
    for output in OUTPUTS:
        assert (small_run / output).stat().st_size > 0, output
    for figure in ("fig1_noise_examples.png", "baseline_error_vs_dist.png"):
        assert (small_run / "results/figures" / figure).read_bytes()[:8] == PNG_MAGIC
    levels = yaml.safe_load(SMALL_CONFIG.read_text())["evaluation"]["levels"]
    for noise in ("gaussian", "fgsm"):
        curve = pd.read_csv(small_run / f"results/sweeps/lenet/{noise}.csv")
        assert list(curve.columns) == ["model", "noise", "level", "strength", "dist", "error"]
        assert len(curve) == levels
        assert curve["dist"].iloc[0] == 0 and curve["dist"].max() >= 0.2
        assert curve["error"].between(0, 1).all()
        # More noise never helps much: the last level is far worse than the clean set.
        assert curve["error"].iloc[-1] > curve["error"].iloc[0] + 0.3
    table = pd.read_csv(small_run / "results/tables/table2.csv")
    assert list(table["method"]) == ["No method"] * 3
    assert list(table["dist"]) == [0.0, 0.1, 0.2]
    assert list(table["paper_pct"]) == [0.83, 73.6, 96.1]
    clean = pd.read_csv(small_run / "results/sweeps/lenet/fgsm.csv")["error"].iloc[0]
    assert table["ours_pct"].iloc[0] == pytest.approx(100 * clean)
    assert "No method" in (small_run / "results/tables/table2.md").read_text()
    checkpoint = torch.load(small_run / "results/models/lenet.pt", weights_only=True)
    assert checkpoint["meta"]["seed"] == 1 and checkpoint["meta"]["solver"]["iterations"] == 150
    for rule_log in ("mnist.log", "train_model/lenet.log", "sweep/lenet/fgsm.log"):
        assert "done" in (small_run / "results/logs" / rule_log).read_text()


def test_report_is_browsable_html(small_run, mnist_dir):
    run_snakemake(small_run, mnist_dir, "--report", "report.html")
    html = (small_run / "report.html").read_text(errors="replace")
    assert "<html" in html.lower() and "table2.csv" in html


def test_same_seed_gives_bit_identical_checkpoint_and_curves(small_run, tmp_path, mnist_dir):
    run_snakemake(tmp_path, mnist_dir)
    first = torch.load(small_run / "results/models/lenet.pt", weights_only=True)["state_dict"]
    second = torch.load(tmp_path / "results/models/lenet.pt", weights_only=True)["state_dict"]
    assert first.keys() == second.keys()
    assert all(torch.equal(first[key], second[key]) for key in first)
    for output in ("results/sweeps/lenet/gaussian.csv", "results/sweeps/lenet/fgsm.csv", "results/tables/table2.csv"):
        assert (small_run / output).read_bytes() == (tmp_path / output).read_bytes(), output


def test_changing_an_evaluation_parameter_reruns_the_sweep_not_the_training(small_run, mnist_dir, tmp_path):
    changed = yaml.safe_load(SMALL_CONFIG.read_text())
    changed["evaluation"]["levels"] = 7
    (tmp_path / "changed.yaml").write_text(yaml.safe_dump(changed))
    result = run_snakemake(
        small_run, mnist_dir, "-n", "results/sweeps/lenet/gaussian.csv", config=str(tmp_path / "changed.yaml")
    )
    jobs = planned_jobs(result.stdout)
    assert jobs.get("sweep") == 1
    assert "train_model" not in jobs and "mnist" not in jobs


def test_asking_for_one_curve_runs_only_what_it_needs(tmp_path, mnist_dir):
    result = run_snakemake(tmp_path, mnist_dir, "-n", "results/sweeps/lenet/gaussian.csv")
    assert planned_jobs(result.stdout) == {"mnist": 1, "train_model": 1, "sweep": 1}


def _kill_when(workdir: Path, mnist_dir: Path, log: str, pattern: str, config: Path) -> None:
    process = subprocess.Popen(
        snakemake_command(workdir, mnist_dir, config=str(config)),
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


@pytest.mark.parametrize(
    ("log", "pattern", "unfinished"),
    [
        ("train_model/lenet.log", r"iteration 50/", "results/models/lenet.pt"),
        ("sweep/lenet/fgsm.log", r"images x", "results/sweeps/lenet/fgsm.csv"),
    ],
)
def test_hard_kill_mid_job_leaves_nothing_finished_and_rerun_matches(small_run, tmp_path, mnist_dir, log, pattern, unfinished):
    # The small config's evaluation batches are small, so a sweep is still running after
    # its first progress line.
    config = SMALL_CONFIG
    workdir = tmp_path / "work"
    _kill_when(workdir, mnist_dir, log, pattern, config)
    assert not (workdir / unfinished).exists()
    subprocess.run(snakemake_command(workdir, mnist_dir, "--unlock", config=str(config)), check=True, capture_output=True)
    run_snakemake(workdir, mnist_dir, config=str(config))
    leftovers = [path for path in (workdir / "results").rglob("*") if ".tmp-" in path.name]
    assert leftovers == []
    reference = torch.load(small_run / "results/models/lenet.pt", weights_only=True)["state_dict"]
    rerun = torch.load(workdir / "results/models/lenet.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(reference[key], rerun[key]) for key in reference)
    for noise in ("gaussian", "fgsm"):
        ours = pd.read_csv(workdir / f"results/sweeps/lenet/{noise}.csv")
        uninterrupted = pd.read_csv(small_run / f"results/sweeps/lenet/{noise}.csv")
        pd.testing.assert_frame_equal(ours[["strength", "error"]], uninterrupted[["strength", "error"]])
        assert ours["dist"].to_numpy() == pytest.approx(uninterrupted["dist"].to_numpy(), abs=1e-6)


def test_workflow_passes_snakemake_lint_and_snakefmt(tmp_path, mnist_dir):
    lint = subprocess.run(
        snakemake_command(tmp_path, mnist_dir, "--lint"), capture_output=True, text=True, timeout=300
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "good condition" in lint.stdout + lint.stderr
    snakefmt = Path(sys.executable).parent / "snakefmt"  # the venv's, beside its python
    files = [str(REPO / "Snakefile"), str(REPO / "workflow" / "rules")]
    formatted = subprocess.run([str(snakefmt), "--check", *files], capture_output=True, text=True, cwd=REPO)
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


def test_moving_the_data_folder_reruns_nothing(small_run, mnist_dir, tmp_path):
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    for source in mnist_dir.iterdir():
        (moved / source.name).write_bytes(source.read_bytes())
    result = run_snakemake(small_run, moved, "-n")
    assert planned_jobs(result.stdout) == {}
