"""Where the workflow's jobs will compute, decided where Snakemake parses the workflow,
without importing torch (the parse stays fast, and works where torch is not installed)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

# Where an NVIDIA driver lists its GPUs (Linux); no entries: no GPU this process can use.
NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")


def cuda_visible(environ: Mapping[str, str] = os.environ, gpus_dir: Path = NVIDIA_GPUS) -> bool:
    """Whether a job started here would find a CUDA device: the NVIDIA driver lists a GPU
    and CUDA_VISIBLE_DEVICES does not hide them all; then torch, where it is installed, has
    the last word (a CPU-only build of torch sees no GPU)."""
    hidden = environ.get("CUDA_VISIBLE_DEVICES")
    if hidden is not None and hidden.strip() in ("", "-1"):
        return False
    try:
        if not any(gpus_dir.iterdir()):
            return False
    except OSError:
        return False
    try:
        import torch
    except ModuleNotFoundError as missing:
        if missing.name != "torch":
            raise  # a broken torch install: say so rather than guess
        return True  # Snakemake runs without the package's environment: the driver's word stands
    return torch.cuda.is_available()


def jobs_run_on_cuda(device: str, jobs_get_gpus: bool, cuda_here: Callable[[], bool] | None = None) -> bool:
    """Whether the jobs' device (config ``device``) resolves to CUDA. ``jobs_get_gpus``: a
    cluster profile gives the jobs GPUs (they run on other nodes than the one that parses).
    ``cuda_here`` (default :func:`cuda_visible`, looked up at the call) probes this machine."""
    if device != "auto":
        return device == "cuda"
    return jobs_get_gpus or (cuda_here or cuda_visible)()


def strong_attacks_enabled(
    enabled: bool | str, device: str, jobs_get_gpus: bool, cuda_here: Callable[[], bool] | None = None
) -> bool:
    """Config ``strong_attacks.enabled``: true or false as written; auto: on where the jobs
    run on CUDA (AutoAttack's standard budget costs hours on a few CPU cores)."""
    if enabled == "auto":
        return jobs_run_on_cuda(device, jobs_get_gpus, cuda_here)
    return bool(enabled)
