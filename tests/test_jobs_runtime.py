"""Tests for mnistrobust.jobs.runtime: a job's thread count and log (each line named after the
job), with and without torch, and which jobs never import torch. (The device setting:
test_devices.py.)"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from mnistrobust.errors import ConfigError
from mnistrobust.io.checkpoints import MethodInputs
from mnistrobust.jobs.runtime import job, job_for, job_name, method_inputs, noise_job

REPO_SRC = str(Path(__file__).resolve().parents[1] / "src")


def _run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_table_and_curve_figure_jobs_never_import_torch():
    # What the table2 and error_curves_figure scripts import: torch's import alone costs
    # them about 4 s of CPU each, and they only read CSV curves.
    loaded = _run(
        """
        import sys
        import mnistrobust.jobs.reporting, mnistrobust.jobs.runtime
        import mnistrobust.reports.curves, mnistrobust.reports.plots, mnistrobust.reports.tables
        import mnistrobust.reports.strong, mnistrobust.reports.figures, mnistrobust.progress
        print(sorted(name for name in ("torch", "torchvision") if name in sys.modules))
        """
    )
    assert loaded.strip() == "[]"


def test_the_config_checks_import_from_src_with_the_standard_library_alone():
    # The Snakefile imports mnistrobust.config straight from src/ to check a config before any
    # job starts (also where the package is not installed): no numpy, pandas, torch or h5py.
    loaded = _run(
        f"""
        import sys
        sys.path.insert(0, {REPO_SRC!r})
        import mnistrobust.config, mnistrobust.errors
        assert mnistrobust.config.__file__.startswith({REPO_SRC!r})
        print(sorted(name for name in ("torch", "numpy", "pandas", "h5py") if name in sys.modules))
        """
    )
    assert loaded.strip() == "[]"


def _torch_threads_in_a_one_thread_job(log_path: Path, torch_loaded_before_the_job: bool) -> str:
    """What torch.get_num_threads() prints inside ``job(log_path, 1)`` in a fresh Python, with
    torch imported before the job starts or only inside it."""
    before, inside = ("import torch", "") if torch_loaded_before_the_job else ("", "import torch")
    return _run(
        f"""
        {before}
        from mnistrobust.jobs.runtime import job
        with job({str(log_path)!r}, 1) as log:
            {inside}
            print(torch.get_num_threads())
        """
    ).strip()


def test_a_job_that_loads_torch_late_still_gets_its_thread_count(tmp_path):
    # 1 thread: torch's own default is the core count (2 on the test VM, where it also
    # reported 2 for OMP_NUM_THREADS=3), so 1 is what tells the setting took effect.
    assert _torch_threads_in_a_one_thread_job(tmp_path / "job.log", torch_loaded_before_the_job=False) == "1"
    assert "1 thread(s), without torch" in (tmp_path / "job.log").read_text()


def test_a_job_with_torch_loaded_sets_its_threads_and_logs_the_version(tmp_path):
    assert _torch_threads_in_a_one_thread_job(tmp_path / "job.log", torch_loaded_before_the_job=True) == "1"
    log = (tmp_path / "job.log").read_text()
    assert "torch 2." in log and "1 thread(s)" in log and "done" in log


@pytest.fixture
def in_process(monkeypatch):
    """job() sets OMP_NUM_THREADS for the rest of its process: restored after the test."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


def test_job_name_is_the_rule_and_its_wildcard_values():
    assert job_name("sweep", ["lenet", "fgsm"]) == "sweep[lenet/fgsm]"
    assert job_name("adversarial_stage", ["3"]) == "adversarial_stage[3]"
    assert job_name("table2", []) == "table2" and job_name("table2") == "table2"
    assert job_name("sweep", ["", "lenet", "fgsm"]) == "sweep[lenet/fgsm]"  # replicate 1
    assert job_name("sweep", ["r2/", "lenet", "fgsm"]) == "sweep[r2/lenet/fgsm]"


def test_every_log_line_names_the_job_and_goes_to_stderr_too(in_process, tmp_path, capsys):
    log_path = tmp_path / "logs" / "sweep" / "lenet" / "fgsm.log"
    with job(log_path, 1, name="sweep[lenet/fgsm]") as log:
        log("working")
    lines = log_path.read_text().splitlines()
    assert len(lines) == 3 and lines[1].endswith("] working") and lines[2].endswith("] done")
    assert all(re.match(r"^sweep\[lenet/fgsm\] \[ *\d+\.\ds\] ", line) for line in lines), lines
    assert capsys.readouterr().err.splitlines() == lines


def test_a_job_without_a_name_prefixes_only_the_time(in_process, tmp_path):
    log_path = tmp_path / "job.log"
    with job(log_path, 1) as log:
        log("working")
    assert all(re.match(r"^\[ *\d+\.\ds\] ", line) for line in log_path.read_text().splitlines())


def test_an_error_of_the_pipeline_is_logged_as_one_line_and_propagates(in_process, tmp_path):
    log_path = tmp_path / "job.log"
    with pytest.raises(ConfigError, match="bad setting"):
        with job(log_path, 1, name="train_model[lenet]"):
            raise ConfigError("bad setting")
    lines = log_path.read_text().splitlines()
    assert lines[-1].startswith("train_model[lenet] [") and lines[-1].endswith("] ERROR: bad setting")
    assert not any(line.endswith("] done") for line in lines)


def test_job_for_takes_log_threads_rule_and_wildcards_from_the_snakemake_object(in_process, tmp_path):
    log_path = tmp_path / "logs" / "stage.log"
    snakemake = SimpleNamespace(log=[str(log_path)], threads=1, rule="adversarial_stage", wildcards=["2"])
    with job_for(snakemake) as log:
        log("stage 2")
    lines = log_path.read_text().splitlines()
    assert lines[1].startswith("adversarial_stage[2] [") and lines[1].endswith("] stage 2")
    assert "1 thread(s)" in lines[0]


def test_method_inputs_takes_the_checkpoints_from_the_rules_input_and_the_spec_from_its_params():
    from snakemake.iocontainers import InputFiles, Params

    spec, lowpass = {"preprocess": "dae", "members": ["a", "b"]}, {"filters": []}
    params = Params(fromdict={"spec": spec, "lowpass": lowpass, "test_images": 10})
    inputs = InputFiles(fromdict={"data": "mnist.h5", "members": ["a.pt", "b.pt"], "dae": "dae.pt"})
    assert method_inputs("m", inputs, params) == MethodInputs("m", spec, ("a.pt", "b.pt"), lowpass, "dae.pt")
    without_dae = InputFiles(fromdict={"data": "mnist.h5", "members": ["a.pt"]})
    assert method_inputs("n", without_dae, params).dae is None


def test_noise_job_takes_the_method_the_images_the_noise_and_the_sign_map_of_the_rule():
    from snakemake.iocontainers import InputFiles, Params, Wildcards

    from mnistrobust.jobs.evaluation import NoiseJob

    spec, lowpass, evaluation = {"preprocess": "none", "members": ["a"]}, {"filters": []}, {"levels": 3}
    params = Params(fromdict={"spec": spec, "lowpass": lowpass, "noise": "fgsm", "evaluation": evaluation, "test_images": 10})
    wildcards = Wildcards(fromdict={"replicate": "", "method": "m", "noise": "fgsm"})
    inputs = InputFiles(fromdict={"data": "mnist.h5", "members": ["a.pt"], "sign_map": "sign.h5"})
    job = noise_job(wildcards, inputs, params, {"device": "cpu"})
    assert job == NoiseJob(MethodInputs("m", spec, ("a.pt",), lowpass), "mnist.h5", "fgsm", evaluation, 10, "sign.h5", job.device)
    assert job.device.type == "cpu"
    gaussian = InputFiles(fromdict={"data": "mnist.h5", "members": ["a.pt"]})
    assert noise_job(wildcards, gaussian, params, {"device": "cpu"}).sign_map is None
