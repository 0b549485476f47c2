"""profiles/slurm on a real single-node SLURM cluster started on this host (`make test-slurm`).

tests/slurm/local_cluster.sh installs Debian's slurmctld, slurmd, slurm-client and munge
when they are missing, starts the daemons by hand and stops them by PID at the end. The
small config then runs through `--profile` (a copy of profiles/slurm with
tests/slurm/profile_overrides.yaml merged over it). Not collected by `make test`
(`norecursedirs` in pyproject.toml): it installs packages and starts daemons.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SNAKEMAKE, small_config_with, snakemake_command

HERE = Path(__file__).resolve().parent
CLUSTER_SCRIPT = HERE / "local_cluster.sh"
PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
PROFILE_OVERRIDES = HERE / "profile_overrides.yaml"
SNAKEFILE = REPO / "Snakefile"
# The small config runs one thread per job, so each job asks for one of the node's two CPUs.
TEST_CPUS_PER_TASK = 1
# Hard limits (seconds) on each Snakemake run: a hanging status query must fail, not stall CI.
WORKFLOW_TIMEOUT = 1800
BAD_INPUT_TIMEOUT = 300
# Outputs of the small DAG: tables and figures (local rules) fed by SLURM jobs.
EXPECTED_OUTPUTS = [
    "results/tables/table2.csv",
    "results/tables/table2.md",
    "results/tables/lowpass_clean_error.csv",
    "results/figures/fig1_noise_examples.png",
    "results/figures/fig3_dropout_adversarial.png",
    "results/figures/fig7_committees_adversarial.png",
    "results/models/lenet.pt",
    "results/dae/dae.pt",
    "results/adversarial/stage5.pt",
    "results/sweeps/adv_committee/fgsm.csv",
]


def profile_rules() -> dict[str, dict]:
    """set-resources of profiles/slurm: the rules sent to SLURM, with what they ask for."""
    return yaml.safe_load(PROFILE.read_text())["set-resources"]


def local_rules() -> set[str]:
    """The Snakefile's `localrules:` block."""
    block = re.search(r"^localrules:\n((?:[ \t]+\w+,?\n)+)", SNAKEFILE.read_text(), re.MULTILINE)
    assert block, "no localrules: block in the Snakefile"
    return set(re.findall(r"\w+", block.group(1)))


def job_rules(workdir: Path) -> set[str]:
    """Rules of the default workflow that run code (rules that only name targets, like `all`, do not)."""
    listing = subprocess.run(
        [*SNAKEMAKE, "-s", str(SNAKEFILE), "--directory", str(workdir), "--list-rules"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # Each line is a rule name, then its docstring in parentheses.
    rules = {line.split()[0] for line in listing.splitlines() if line.strip()}
    sources = "".join(path.read_text() for path in [SNAKEFILE, *sorted((REPO / "workflow" / "rules").glob("*.smk"))])
    blocks = re.findall(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", sources, re.MULTILINE | re.DOTALL)
    runs_code = re.compile(r"^\s+(script|shell|run|notebook|wrapper):", re.MULTILINE)
    target_only = {name for name, body in blocks if not runs_code.search(body)}
    return rules - target_only


def run_cluster_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(CLUSTER_SCRIPT), *args], capture_output=True, text=True, timeout=900)


def cluster_step(*args: str) -> None:
    """Run local_cluster.sh; skip (exit 3: cannot run here) or fail with its output."""
    result = run_cluster_script(*args)
    if result.returncode == 3:
        pytest.skip(f"no local SLURM cluster: {result.stderr.strip()}")
    assert result.returncode == 0, f"local_cluster.sh {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """SLURM_CONF of a running single-node cluster; skipped, saying why, where none can run."""
    cluster_step("install")
    state_dir = str(tmp_path_factory.mktemp("slurm_state"))
    previous = os.environ.get("SLURM_CONF")
    try:
        cluster_step("start", state_dir)
        os.environ["SLURM_CONF"] = str(Path(state_dir) / "slurm.conf")
        yield os.environ["SLURM_CONF"]
    finally:
        run_cluster_script("stop", state_dir)
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous


def merged(base: dict, overrides: dict) -> dict:
    """`base` with `overrides` merged in, key by key for nested mappings."""
    result = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            value = merged(base[key], value)
        result[key] = value
    return result


def write_profile(folder: Path, **default_resources) -> Path:
    """profiles/slurm as shipped, with the test cluster's overrides (and `default_resources`)."""
    profile = merged(yaml.safe_load(PROFILE.read_text()), yaml.safe_load(PROFILE_OVERRIDES.read_text()))
    profile["default-resources"].update(default_resources)
    profile["set-resources"] = {
        rule: {**resources, "cpus_per_task": TEST_CPUS_PER_TASK} for rule, resources in profile["set-resources"].items()
    }
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return folder


def run_through_slurm(
    workdir: Path, mnist_dir: Path, profile: Path, timeout: int, *targets: str, overrides: tuple[str, ...] = ()
):
    command = ["timeout", "-k", "30", str(timeout)]
    command += snakemake_command(workdir, mnist_dir, *targets, "--profile", str(profile), overrides=overrides)
    return subprocess.run(command, capture_output=True, text=True)


def slurm_jobs() -> list[dict]:
    """Every job slurmctld remembers (MinJobAge=7200 in the test cluster): id, state, GPUs, comment."""
    listing = subprocess.run(
        ["squeue", "--states=all", "--noheader", "-O", "JobID:20,State:20,tres-per-job:40,Comment:400"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [dict(zip(("id", "state", "tres", "comment"), line.split())) for line in listing.splitlines()]


def rule_of(comment: str, rules: set[str]) -> str:
    """The rule of a job from the plugin's sbatch comment: rule_<name> or rule_<name>_wildcards_<...>."""
    for rule in rules:
        if comment == f"rule_{rule}" or comment.startswith(f"rule_{rule}_wildcards_"):
            return rule
    raise AssertionError(f"SLURM job comment {comment!r} names no known rule")


def failure_report(result: subprocess.CompletedProcess, workdir: Path) -> str:
    """Snakemake's output and the end of every failed job's SLURM log (the job's own stderr)."""
    report = f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    for log in sorted((workdir / ".snakemake" / "slurm_logs").rglob("*.log")):
        text = log.read_text(errors="replace")
        if "Error in rule" in text:
            report += f"\n--- {log}:\n" + "\n".join(text.splitlines()[-25:])
    return report


def test_profile_classifies_every_rule(tmp_path):
    """Each rule that runs code is a SLURM job with or without a GPU, or a local rule: never unlisted."""
    profile = yaml.safe_load(PROFILE.read_text())
    assert profile["executor"] == "slurm"
    # Without slurmdbd, the default (sacct) never learns that a job finished.
    assert profile["slurm-status-command"] == "squeue"
    assert profile["default-resources"]["slurm_partition"].startswith("EDIT_ME")
    on_slurm, local = set(profile_rules()), local_rules()
    assert not on_slurm & local
    unlisted = job_rules(tmp_path) - on_slurm - local
    assert not unlisted, f"add to profiles/slurm set-resources or to the Snakefile's localrules: {unlisted}"
    assert {rule for rule, resources in profile_rules().items() if resources["gpu"]} >= {"train_model", "sweep"}
    assert all(resources["gpu"] in (0, 1) for resources in profile_rules().values())


@pytest.mark.slow
def test_small_workflow_runs_through_sbatch(slurm_cluster, mnist_dir, tmp_path):
    profile = write_profile(tmp_path / "profile")
    workdir = tmp_path / "work"
    result = run_through_slurm(workdir, mnist_dir, profile, WORKFLOW_TIMEOUT)
    assert result.returncode == 0, failure_report(result, workdir)
    for output in EXPECTED_OUTPUTS:
        assert (workdir / output).stat().st_size > 0, output

    # Snakemake's own account: profile rules submitted ("rule"), the Snakefile's localrules run here.
    output = result.stdout + result.stderr
    submitted = set(re.findall(r"^rule (\w+):$", output, re.MULTILINE))
    ran_locally = set(re.findall(r"^localrule (\w+):$", output, re.MULTILINE))
    assert {"train_model", "train_dae", "adversarial_stage", "sweep"} <= submitted <= set(profile_rules())
    assert {"mnist", "table2"} <= ran_locally <= local_rules() | {"all"}

    # The job step's log of every submitted job, in its rule's folder under .snakemake/slurm_logs.
    slurm_logs = workdir / ".snakemake" / "slurm_logs"
    assert {folder.name.removeprefix("rule_") for folder in slurm_logs.iterdir()} == submitted
    logs = list(slurm_logs.rglob("*.log"))
    sweep_logs = list((slurm_logs / "rule_sweep").rglob("*.log"))
    assert len(sweep_logs) == len(list((workdir / "results" / "sweeps").rglob("*.csv")))
    assert all("rule sweep:" in log.read_text() for log in sweep_logs)

    # slurmctld's account: one completed job per log, with a GPU exactly where the profile asks for one.
    jobs = [job for job in slurm_jobs() if job["comment"].startswith("rule_")]
    assert len(jobs) == len(logs), jobs
    for job in jobs:
        rule = rule_of(job["comment"], submitted)
        assert job["state"] == "COMPLETED", job
        assert job["tres"] == ("gres:gpu:1" if profile_rules()[rule]["gpu"] else "N/A"), job


@pytest.mark.slow
def test_partition_that_does_not_exist_fails_at_sbatch(slurm_cluster, mnist_dir, tmp_path):
    profile = write_profile(tmp_path / "profile", slurm_partition="nosuch")
    workdir = tmp_path / "work"
    result = run_through_slurm(workdir, mnist_dir, profile, BAD_INPUT_TIMEOUT, "results/models/lenet.pt")
    assert result.returncode not in (0, 124, 137), failure_report(result, workdir)
    assert "invalid partition specified: nosuch" in result.stderr, failure_report(result, workdir)
    assert not (workdir / "results" / "models" / "lenet.pt").exists()


@pytest.mark.slow
def test_device_cuda_on_a_node_without_cuda_fails_in_the_job(slurm_cluster, mnist_dir, tmp_path):
    """SLURM grants the advertised GPU, CUDA is not there: the job stops and its log says why."""
    profile = write_profile(tmp_path / "profile")
    workdir = tmp_path / "work"
    result = run_through_slurm(
        workdir, mnist_dir, profile, BAD_INPUT_TIMEOUT, "results/models/lenet.pt", overrides=("device=cuda",)
    )
    assert result.returncode not in (0, 124, 137), failure_report(result, workdir)
    message = "device: cuda was asked for but no CUDA device is visible"
    assert message in (workdir / "results" / "logs" / "train_model" / "lenet.log").read_text()
    assert message in result.stderr, failure_report(result, workdir)
    # The plugin joins the wildcard values with "_": replicate 1's {replicate} is empty.
    prefix = "rule_train_model_wildcards_"
    jobs = [job for job in slurm_jobs() if job["comment"].startswith(prefix) and job["comment"][len(prefix) :].strip("_") == "lenet"]
    latest = max(jobs, key=lambda job: int(job["id"]))
    assert latest["state"] == "FAILED" and latest["tres"] == "gres:gpu:1", jobs
    assert not (workdir / "results" / "models" / "lenet.pt").exists()


@pytest.mark.slow  # command-line Snakemake starts: about 2 minutes each on 2 cores
@pytest.mark.parametrize("gpu", [1, 0])
def test_strong_attacks_auto_follows_the_profiles_gpus(no_data_dir, tmp_path, gpu):
    """On a login node without a GPU, `strong_attacks.enabled: auto` reads the profile: its
    strong_evaluate jobs get a GPU (as shipped), so the strong evaluation joins the default
    target; with `gpu: 0` (a CPU-only partition) it does not, and the run says so."""
    profile = write_profile(tmp_path / "profile")
    settings = yaml.safe_load(profile.joinpath("config.yaml").read_text())
    settings["set-resources"]["strong_evaluate"]["gpu"] = gpu
    profile.joinpath("config.yaml").write_text(yaml.safe_dump(settings))
    config = small_config_with(tmp_path, {"strong_attacks": {"enabled": "auto"}})
    command = snakemake_command(tmp_path / "work", no_data_dir, "-n", "--profile", str(profile), config=config)
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert ("strong_attacks_table" in result.stdout) is bool(gpu)
    assert ("strong_attacks: off on the CPU" in result.stdout + result.stderr) is not bool(gpu)
