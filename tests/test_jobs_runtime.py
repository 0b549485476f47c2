"""Tests for mnistrobust.runtime: a job's thread count and log, with and without torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap


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
        import mnistrobust.curves, mnistrobust.plots, mnistrobust.runtime, mnistrobust.tables
        print(sorted(name for name in ("torch", "torchvision") if name in sys.modules))
        """
    )
    assert loaded.strip() == "[]"


def test_a_job_that_loads_torch_late_still_gets_its_thread_count(tmp_path):
    # 1 thread: torch's own default is the core count (2 on the test VM, where it also
    # reported 2 for OMP_NUM_THREADS=3), so 1 is what tells the setting took effect.
    out = _run(
        f"""
        from mnistrobust.runtime import job
        with job({str(tmp_path / "job.log")!r}, 1) as log:
            import torch
            print(torch.get_num_threads())
        """
    )
    assert out.strip() == "1"
    assert "1 thread(s), without torch" in (tmp_path / "job.log").read_text()


def test_a_job_with_torch_loaded_sets_its_threads_and_logs_the_version(tmp_path):
    out = _run(
        f"""
        import torch
        from mnistrobust.runtime import job
        with job({str(tmp_path / "job.log")!r}, 1) as log:
            print(torch.get_num_threads())
        """
    )
    assert out.strip() == "1"
    log = (tmp_path / "job.log").read_text()
    assert "torch 2." in log and "1 thread(s)" in log and "done" in log
