"""Workflow dry runs and bad input: the planned DAG of the default config and of single
targets, unknown names in targets, a corrupt data file, and lint. None of these needs the
small end-to-end run of test_workflow.py. (Configs that fail their schema or cross-checks,
and unknown target words: test_config.py.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, dry_run, run_snakemake, small_config_with, snakemake_command


def test_default_dag_dry_run_plans_the_full_study(tmp_path, no_data_dir):
    result = dry_run(tmp_path, no_data_dir, config=str(REPO / "config.yaml"))
    assert result.ok, result.output
    assert result.jobs == {
        "mnist": 1,
        "train_model": 3,  # lenet, lenet_inp, lenet_all
        "train_group_committee_seeds": 1,  # lenet_seed2..6 as one grouped network
        "train_group_human_seeds": 1,  # lenet_seed7..20
        "train_dae": 1,
        "adversarial_pool": 5,
        "adversarial_stage": 5,
        "lowpass_calibration": 1,
        # 14 methods end to end + 8 with preprocessing oblivious + the plug-in's oblivious and BPDA
        "fgsm_sign_map": 24,
        "sweep": 39,  # 14 methods x (gaussian, fgsm) + 8 oblivious + the plug-in's gaussian, oblivious, BPDA
        "table2_cells": 14,  # one per Table 2 row
        "table2": 1,
        "figure1": 1,
        "error_curves_figure": 7,
        "usps": 1,
        "human_stimuli": 2,  # the subjects' sets and the LeNets' sets
        "human_lenet_answers": 1,
        "human_analysis": 1,
        "strong_fast_reference_model": 1,  # the fast-AT reference joins the default target
        "all": 1,
    }


def test_paper_target_plans_the_robustness_study_without_the_human_study(tmp_path, no_data_dir):
    result = dry_run(tmp_path, no_data_dir, "paper", config=str(REPO / "config.yaml"))
    jobs = result.jobs
    assert jobs["table2"] == 1 and jobs["sweep"] == 39 and jobs["error_curves_figure"] == 7
    assert jobs["table2_cells"] == len(yaml.safe_load((REPO / "config.yaml").read_text())["table2"]["rows"])
    assert jobs["train_group_committee_seeds"] == 1
    assert not {rule for rule in jobs if rule.startswith("human") or rule in ("usps", "train_group_human_seeds")}


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("results/sweeps/nosuch/fgsm.csv", "unknown method 'nosuch'"),
        ("results/sweeps/lenet/saltpepper.csv", "unknown noise 'saltpepper'"),
        ("results/sweeps/lenet/fgsm_oblivious.csv", "no preprocessing"),
        ("results/models/nosuch.pt", "unknown model 'nosuch'"),
        ("results/adversarial/stage9.pt", "stage 9 does not exist"),
        ("results/adversarial/pool_stage0.h5", "stage 0 does not exist"),
        ("results/attacks/lenet/gaussian_sign.h5", "has no gradient-sign map"),
        # only configured figure names match the figure rule, so Snakemake itself names the file
        ("results/figures/fig99.png", "No rule to produce results/figures/fig99.png"),
    ],
)
def test_unknown_model_or_noise_in_a_target_names_it(tmp_path, no_data_dir, target, message):
    result = dry_run(tmp_path, no_data_dir, target)
    assert not result.ok
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "override", "message"),
    [
        ((), {"evaluation": {"levels": 1}}, "1 is less than the minimum of 2"),
        (("results/sweeps/nosuch/fgsm.csv",), {}, "unknown method 'nosuch'"),
    ],
)
def test_the_command_line_exits_non_zero_naming_the_problem(tmp_path, no_data_dir, args, override, message):
    """The real command line (the other dry runs use Snakemake's API in-process)."""
    workdir = tmp_path / "work"
    result = run_snakemake(workdir, no_data_dir, "-n", *args, config=small_config_with(tmp_path, override), check=False)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not (workdir / "results").exists()


@pytest.mark.slow
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


def test_asking_for_one_curve_runs_only_what_it_needs(tmp_path, no_data_dir):
    result = dry_run(tmp_path, no_data_dir, "results/sweeps/lenet/gaussian.csv")
    assert result.jobs == {"mnist": 1, "train_model": 1, "sweep": 1}


def test_asking_for_one_adversarial_stage_runs_its_chain_only(tmp_path, no_data_dir):
    result = dry_run(tmp_path, no_data_dir, "results/adversarial/stage2.pt")
    assert result.jobs == {"mnist": 1, "train_model": 1, "adversarial_pool": 2, "adversarial_stage": 2}


@pytest.mark.slow
def test_workflow_passes_snakemake_lint_and_snakefmt(tmp_path, no_data_dir):
    lint = subprocess.run(
        snakemake_command(tmp_path, no_data_dir, "--lint"), capture_output=True, text=True, timeout=300
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "good condition" in lint.stdout + lint.stderr
    snakefmt = Path(sys.executable).parent / "snakefmt"  # the venv's, beside its python
    files = [str(REPO / "Snakefile"), str(REPO / "workflow" / "rules")]
    formatted = subprocess.run([str(snakefmt), "--check", *files], capture_output=True, text=True, cwd=REPO)
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


def test_python_code_has_no_undefined_or_unused_names():
    """pyflakes over the folders `make lint` names (the package, the rule scripts, whose
    ``snakemake`` is an injected global, the benchmark and experiment scripts, which no
    other test imports, and the tests), read from the Makefile so the two cannot differ."""
    pyflakes = Path(sys.executable).parent / "pyflakes"
    lint = re.search(r"^\tPYFLAKES_BUILTINS=snakemake \$\(BIN\)/pyflakes (.+)$", (REPO / "Makefile").read_text(), re.M)
    folders = lint.group(1).split()
    assert {"src", "bench", "workflow/scripts", "docs/experiments"} <= set(folders)
    env = {**os.environ, "PYFLAKES_BUILTINS": "snakemake"}
    result = subprocess.run([str(pyflakes), *folders], capture_output=True, text=True, cwd=REPO, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_one_replicate_plans_no_replicate_folder_and_three_replicates_add_two_independent_ones(tmp_path, no_data_dir):
    one = dry_run(tmp_path / "one", no_data_dir, "paper", config=str(REPO / "config.yaml"))
    assert one.ok, one.output
    assert not re.search(r"results/(logs/|benchmarks/)?r[0-9]+/", one.output)  # replicate 1: no replicate folder
    default_with_three = tmp_path / "replicates3.yaml"  # merged over config.yaml, as --configfile is
    default_with_three.write_text("replicates: 3\n")
    three = dry_run(tmp_path / "three", no_data_dir, "paper", config=str(default_with_three))
    assert three.ok, three.output
    jobs = three.jobs
    for rule in ("sweep", "table2_cells", "fgsm_sign_map", "adversarial_pool", "adversarial_stage", "train_dae"):
        assert jobs[rule] == 3 * one.jobs[rule], rule
    # lenet's replicates 2 and 3 (seeds 7, 13) and the committee's are the human study's LeNets,
    # trained once by their group: only lenet_inp and lenet_all train again
    assert jobs["train_model"] == 3 + 2 * 2 and jobs["train_group_human_seeds"] == 1
    assert "results/r2/models/lenet.pt" not in three.output and "results/r3/models/lenet_inp.pt" in three.output
    assert jobs["table2"] == 1 and jobs["error_curves_figure"] == one.jobs["error_curves_figure"]


def test_a_replicate_beyond_the_configured_count_is_named(tmp_path, no_data_dir):
    result = dry_run(tmp_path, no_data_dir, "results/r4/sweeps/lenet/fgsm.csv")
    assert not result.ok
    assert "replicate 4 is not configured (replicates: 1); add --config replicates=4" in result.output


def test_replicates_without_curves_add_their_training_and_table2_cells_only(tmp_path, no_data_dir):
    one = dry_run(tmp_path / "one", no_data_dir, "paper", config=str(REPO / "config.yaml")).jobs
    cheap = tmp_path / "cheap.yaml"
    cheap.write_text("replicates: 2\nreplicate_curves: false\n")
    two = dry_run(tmp_path / "two", no_data_dir, "paper", config=str(cheap)).jobs
    assert two["sweep"] == one["sweep"] and two["table2_cells"] == 2 * one["table2_cells"]
    assert two["adversarial_stage"] == 2 * one["adversarial_stage"] and two["train_dae"] == 2
    # no sign map files: replicate 2's cell jobs make their own, as nothing else reads them
    assert two["fgsm_sign_map"] == one["fgsm_sign_map"]
