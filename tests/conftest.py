"""Shared fixtures: where the offline data is, and how to run the workflow in a temp dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SMALL_CONFIG = REPO / "tests" / "config" / "small.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def shared_data_dir() -> Path:
    return Path(os.environ.get("MNISTROBUST_DATA_DIR", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    folder = shared_data_dir() / "mnist"
    if not folder.is_dir():
        pytest.skip(f"offline MNIST copy not found at {folder}; set MNISTROBUST_DATA_DIR")
    return folder


def snakemake_command(
    workdir: Path, mnist_dir: Path, *args: str, config: str | None = None, overrides: tuple[str, ...] = ()
) -> list[str]:
    """Targets and flags go first: --config takes every word after it as a KEY=VALUE."""
    command = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", "2", *args]
    command += ["--configfile", str(config or SMALL_CONFIG)]
    return command + ["--config", f"data={{mnist_local_dir: '{mnist_dir}'}}", *overrides]


def run_snakemake(
    workdir: Path, mnist_dir: Path, *args: str, config: str | None = None, overrides: tuple[str, ...] = (), check: bool = True
):
    command = snakemake_command(workdir, mnist_dir, *args, config=config, overrides=overrides)
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result
