"""Shared fixtures: where the offline data is, and how to run the workflow in a temp dir."""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

# The human-study fixtures (human_inputs, paper_stimuli, tiny_stimuli), for every test module.
pytest_plugins = ["human_support"]

REPO = Path(__file__).resolve().parents[1]
SMALL_CONFIG = REPO / "tests" / "config" / "small.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


DATA_DIR_VARIABLE = "MNISTROBUST_DATA_DIR"


def pytest_collection_modifyitems(items):
    """The small end-to-end run's file first: its module fixture is about 5 minutes of
    Snakemake on two cores. `make test` (-n 2 --dist loadfile --no-loadscope-reorder) hands
    files out in this order, so one worker starts it at once while the other takes every
    other file, rather than it running alone at the end."""
    items.sort(key=lambda item: item.path.name != "test_workflow.py")


def offline_data_folder(name: str) -> Path:
    """``$MNISTROBUST_DATA_DIR/name`` (set by `make test DATA_DIR=...`), or skip saying why."""
    root = os.environ.get(DATA_DIR_VARIABLE)
    if not root:
        pytest.skip(f"{DATA_DIR_VARIABLE} is not set; run `make test DATA_DIR=<folder with mnist/ and usps/>`")
    folder = Path(root).resolve() / name
    if not folder.is_dir():
        pytest.skip(f"offline data folder {folder} not found (from {DATA_DIR_VARIABLE})")
    return folder


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """One intra-op torch thread in every test process: `make test` runs two pytest workers
    on two cores, beside Snakemake jobs, and a second spinning OpenMP thread per worker
    makes small steps several times slower. No result depends on the thread count."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    return offline_data_folder("mnist")


@pytest.fixture(scope="session")
def usps_dir() -> Path:
    return offline_data_folder("usps")


@pytest.fixture(scope="session")
def no_data_dir(tmp_path_factory) -> Path:
    """An empty mnist/ folder for the data config of dry runs, which read no data."""
    folder = tmp_path_factory.mktemp("no_data") / "mnist"
    folder.mkdir()
    return folder


@pytest.fixture(scope="session")
def mnist_h5_file(mnist_dir, tmp_path_factory) -> Path:
    """The offline MNIST converted once per session, for unit tests on real digits."""
    from mnistrobust.data import acquire_mnist

    output = tmp_path_factory.mktemp("mnist_h5") / "mnist.h5"
    acquire_mnist(output, ["local"], str(mnist_dir), log=lambda message: None)
    return output


@pytest.fixture(scope="session")
def small_mnist(mnist_h5_file):
    """The first 2,000 real MNIST training images (N x 1 x 28 x 28 in [0, 1])."""
    from mnistrobust.data import load_split

    images, _ = load_split(mnist_h5_file, "train", limit=2000)
    return images


def small_config_with(folder: Path, sections: dict) -> str:
    """tests/config/small.yaml with top-level ``sections`` merged into it (a mapping into a
    mapping, one level deep) or replacing it, written to a new file in ``folder``; returns its path."""
    import yaml

    config = yaml.safe_load(SMALL_CONFIG.read_text())
    for key, value in sections.items():
        merge = isinstance(value, dict) and isinstance(config.get(key), dict)
        config[key] = {**config[key], **value} if merge else value
    with tempfile.NamedTemporaryFile("w", dir=folder, prefix="small_with_changes_", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(config, handle)
    return handle.name


def snakemake_command(
    workdir: Path, mnist_dir: Path, *args: str, config: str | None = None, overrides: tuple[str, ...] = ()
) -> list[str]:
    """Targets and flags go first: --config takes every word after it as a KEY=VALUE."""
    command = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", "2", *args]
    command += ["--configfile", str(config or SMALL_CONFIG)]
    entries = ", ".join(f"{key}: '{value}'" for key, value in offline_data_config(mnist_dir).items())
    return command + ["--config", f"data={{{entries}}}", *overrides]


def run_snakemake(
    workdir: Path, mnist_dir: Path, *args: str, config: str | None = None, overrides: tuple[str, ...] = (), check: bool = True
):
    command = snakemake_command(workdir, mnist_dir, *args, config=config, overrides=overrides)
    # A guard against a hung run, not a speed test: the small run's ~90 jobs take a few
    # minutes on 2 cores, more while another process shares them.
    result = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def offline_data_config(mnist_dir: Path) -> dict:
    """The ``data:`` override that points the workflow at the offline folders (USPS, for
    the human study, sits beside mnist/)."""
    return {"mnist_local_dir": str(mnist_dir), "usps_local_dir": str(Path(mnist_dir).parent / "usps")}


@dataclass
class DryRun:
    ok: bool
    output: str  # Snakemake's log and, when it failed, the error, as the command line prints them

    @property
    def jobs(self) -> dict[str, int]:
        return planned_jobs(self.output)


def dry_run(
    workdir: Path, mnist_dir: Path, *targets: str, config: str | None = None, force: bool = False,
    set_resources: dict | None = None,
) -> DryRun:
    """``snakemake -n [--force] TARGETS`` inside this process through Snakemake's API.

    The same config merging, schema validation, input functions and DAG as the command
    line, without its start-up (about 3.5 s, mostly imports), which dozens of dry runs
    would pay each. A few tests keep the real command line for exit codes and messages.
    The API does not read profiles/default; nothing in it (cores, rerun-incomplete,
    printing, keep-going) changes what these dry runs plan. ``set_resources``: as a
    profile's set-resources, {rule: {resource: value}}.
    """
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, DAGSettings, OutputSettings, ResourceSettings

    captured = io.StringIO()
    cwd = os.getcwd()  # the API changes into the workdir
    sigterm = signal.getsignal(signal.SIGTERM)  # its job scheduler installs its own, for good
    error: BaseException | None = None
    with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
        try:
            # As `-n` sets them: the log to stdout, and no log file under .snakemake/log.
            with SnakemakeApi(OutputSettings(dryrun=True, stdout=True)) as api:
                workflow = api.workflow(
                    resource_settings=ResourceSettings(cores=2, overwrite_resources=set_resources or {}),
                    config_settings=ConfigSettings(
                        configfiles=[Path(config or SMALL_CONFIG)], config={"data": offline_data_config(mnist_dir)}
                    ),
                    snakefile=REPO / "Snakefile",
                    workdir=Path(workdir),
                )
                dag = workflow.dag(DAGSettings(targets=set(targets), forcetargets=force))
                dag.execute_workflow(executor="dryrun")
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # any failure, SystemExit too: the tests assert on what it says
            error = exc
        finally:
            os.chdir(cwd)
            signal.signal(signal.SIGTERM, sigterm)
    if isinstance(error, SystemExit) and error.code in (None, 0):
        error = None  # a clean exit is no failure
    output = captured.getvalue() + (f"\n{error_text(error)}" if error else "")
    return DryRun(ok=error is None, output=output)


def error_text(error: BaseException) -> str:
    """What the command line would print: a SystemExit's message as it is (the Snakefile's
    readable stop, ``sys.exit("Error: ...")``), any other error with its type."""
    if isinstance(error, SystemExit):
        return str(error.code)
    return f"{type(error).__name__}: {error}"


def planned_jobs(stdout: str) -> dict[str, int]:
    """Parse the 'Job stats' table of a dry run into {rule: count}."""
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)\s*$", stdout, flags=re.MULTILINE) if rule != "total"}
