"""Tests for mnistrobust.devices: where the jobs will compute, decided without torch when the
workflow is parsed, and strong_attacks.enabled: auto, which follows it."""

from __future__ import annotations

import builtins
import sys

import pytest

from mnistrobust import devices
from mnistrobust.devices import cuda_visible, jobs_run_on_cuda, strong_attacks_enabled


def test_no_driver_listing_means_no_cuda(tmp_path):
    assert not cuda_visible({}, tmp_path / "missing")
    (tmp_path / "gpus").mkdir()
    assert not cuda_visible({}, tmp_path / "gpus")  # a driver without GPUs


@pytest.mark.parametrize("hidden", ["", "-1", " "])
def test_cuda_visible_devices_can_hide_every_gpu(tmp_path, hidden):
    (tmp_path / "0000:01:00.0").mkdir()
    assert not cuda_visible({"CUDA_VISIBLE_DEVICES": hidden}, tmp_path)


def test_a_listed_gpu_is_confirmed_by_torch(tmp_path, monkeypatch):
    (tmp_path / "0000:01:00.0").mkdir()
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert cuda_visible({}, tmp_path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # e.g. a CPU-only torch build
    assert not cuda_visible({"CUDA_VISIBLE_DEVICES": "0"}, tmp_path)


def test_without_torch_the_driver_decides_and_a_broken_torch_is_not_hidden(tmp_path, monkeypatch):
    (tmp_path / "0000:01:00.0").mkdir()
    monkeypatch.setitem(sys.modules, "torch", None)  # Snakemake without the package's environment
    assert cuda_visible({}, tmp_path)

    def broken_import(name, *args, **kwargs):
        if name == "torch":
            raise ModuleNotFoundError("No module named 'torch._C'", name="torch._C")
        return real_import(name, *args, **kwargs)

    real_import = builtins.__import__
    monkeypatch.delitem(sys.modules, "torch")
    monkeypatch.setattr(builtins, "__import__", broken_import)
    with pytest.raises(ModuleNotFoundError, match="torch._C"):
        cuda_visible({}, tmp_path)


@pytest.mark.parametrize(
    "device, jobs_get_gpus, here, expected",
    [
        ("cpu", True, True, False),  # the config's device has the last word
        ("cuda", False, False, True),
        ("auto", False, False, False),
        ("auto", False, True, True),  # a GPU where Snakemake runs the jobs
        ("auto", True, False, True),  # a cluster profile gives the jobs GPUs (login node has none)
    ],
)
def test_jobs_run_on_cuda(device, jobs_get_gpus, here, expected):
    assert jobs_run_on_cuda(device, jobs_get_gpus, lambda: here) is expected


@pytest.mark.parametrize("enabled, cuda, expected", [
    (True, False, True), (False, True, False), ("auto", True, True), ("auto", False, False),
])  # fmt: skip
def test_strong_attacks_enabled_forces_or_follows_the_device(enabled, cuda, expected):
    assert strong_attacks_enabled(enabled, "auto", False, lambda: cuda) is expected


def test_the_probe_is_looked_up_when_called(monkeypatch):
    """So that a test can stand in for a GPU machine (tests/test_workflow_strong_attacks.py)."""
    monkeypatch.setattr(devices, "cuda_visible", lambda: True)
    assert strong_attacks_enabled("auto", "auto", False)


def test_this_module_needs_no_torch():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(devices))
    top_level = {alias.name for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
    assert "torch" not in top_level
