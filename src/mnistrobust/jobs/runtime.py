"""What every workflow job does around its work: thread count, a log file that names the
job on every line, clear errors, the torch device, and a method's inputs as one value."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, MnistRobustError
from ..progress import Log

if TYPE_CHECKING:
    import torch

    from ..io.checkpoints import MethodInputs
    from .evaluation import NoiseJob


def job_name(rule: str, wildcards: Any = None) -> str:
    """``rule`` and its wildcard values, e.g. ``sweep[lenet/fgsm]`` or, in replicate 2,
    ``sweep[r2/lenet/fgsm]``: what each log line is prefixed with. Replicate 1's empty
    {replicate} is left out."""
    values = [str(value).strip("/") for value in (wildcards or []) if str(value).strip("/")]
    return f"{rule}[{'/'.join(values)}]" if values else rule


@contextlib.contextmanager
def job(log_path: str | os.PathLike, threads: int, name: str = "") -> Iterator[Log]:
    """Run a job body with ``threads`` torch threads, logging to ``log_path`` and stderr,
    each line prefixed with the job's ``name`` and the seconds since it started.

    A :class:`MnistRobustError` is written to the log as one readable line before it
    propagates, so the rule's log says what was wrong without a traceback hunt.

    Jobs that compute with torch have imported it by now; the table and curve-figure
    jobs never do, which saves them torch's import (about 4 s of CPU per job). Should
    torch still be imported later, OMP_NUM_THREADS holds it to ``threads``.
    """
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    prefix = f"{name} " if name else ""
    with open(log_path, "w") as handle:

        def log(message: str) -> None:
            line = f"{prefix}[{time.perf_counter() - started:8.1f}s] {message}"
            handle.write(line + "\n")
            handle.flush()
            print(line, file=sys.stderr, flush=True)

        log(f"torch {torch.__version__}, {threads} thread(s)" if torch else f"{threads} thread(s), without torch")
        try:
            yield log
        except MnistRobustError as exc:
            log(f"ERROR: {exc}")
            raise
        log("done")


def job_for(snakemake: Any):
    """:func:`job` for a workflow script's ``snakemake`` object (its log, threads, rule and wildcards)."""
    return job(snakemake.log[0], snakemake.threads, job_name(snakemake.rule, snakemake.wildcards))


DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """The torch device for config key ``device``: auto (CUDA when visible, else CPU), cpu or
    cuda; on CUDA, float32 stays float32 (no TF32)."""
    import torch  # here, not at the top: jobs without torch import this module too

    if name not in DEVICE_CHOICES:
        raise ConfigError(f"unknown device {name!r}; choose one of {list(DEVICE_CHOICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "device: cuda was asked for but no CUDA device is visible "
            "(check CUDA_VISIBLE_DEVICES and the driver, or set device: auto / cpu)"
        )
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name)
    if device.type == "cuda":
        # cuDNN runs float32 convolutions in TF32 (10 mantissa bits) by default on Ampere and
        # later GPUs: on an H200, two LeNets trained 10 iterations then drifted from the CPU's
        # weights by more than 1e-4 (tests/test_devices.py). Full float32, as on the CPU.
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    return device


def method_inputs(name: str, inputs: Any, params: Any) -> MethodInputs:
    """The method ``name`` of a rule whose inputs name its checkpoints (``members``, ``dae``
    for DAE preprocessing) and whose params hold its ``spec`` and the ``lowpass`` settings."""
    from ..io.checkpoints import MethodInputs  # here: the jobs without torch import this module too

    return MethodInputs(name, params.spec, tuple(inputs.members), params.lowpass, inputs.get("dae"))


def noise_job(wildcards: Any, inputs: Any, params: Any, config: Any) -> NoiseJob:
    """What a sweep or Table 2 cell rule evaluates: the method of its ``method`` wildcard, the
    test images of ``inputs.data`` under ``params.noise`` with ``params.evaluation``, the sign
    map input if the rule has one, on the config's device."""
    from .evaluation import NoiseJob  # here, as above

    return NoiseJob(
        method_inputs(wildcards.method, inputs, params),
        inputs.data,
        params.noise,
        params.evaluation,
        params.test_images,
        inputs.get("sign_map"),
        resolve_device(config["device"]),
    )
