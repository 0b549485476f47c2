"""The `device` setting: auto/cpu/cuda resolution, clear errors, and CPU-vs-CUDA agreement."""

from __future__ import annotations

import pytest
import torch

from mnistrobust.config import StrongAttackSettings
from mnistrobust.errors import ConfigError
from mnistrobust.evaluation.strong import evaluate_networks
from mnistrobust.evaluation.sweeps import clean_error, noise_strengths, sweep
from mnistrobust.jobs.runtime import resolve_device
from mnistrobust.nets.defenses import LowPassFilter
from mnistrobust.nets.models import LeNet, LeNetGroup
from mnistrobust.training.solver import SolverSettings, train_group

from model_support import STRONG_ATTACKS_SECTION, labelled_by, seeded_lenet

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible on this machine")


@pytest.fixture
def gpu():
    """The device as every job gets it (resolve_device: float32 without TF32)."""
    return resolve_device("cuda")


def test_cpu_and_auto_resolve_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")


def test_auto_picks_cuda_when_visible_without_tf32(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)  # cuDNN's own default
    assert resolve_device("auto") == torch.device("cuda")
    assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32


def test_cuda_without_a_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="no CUDA device is visible"):
        resolve_device("cuda")


def test_unknown_device_name_is_rejected():
    with pytest.raises(ConfigError, match="unknown device 'gpu'"):
        resolve_device("gpu")


@needs_cuda
def test_sweep_on_cuda_matches_cpu(gpu):
    """Noise is drawn on the CPU for both, so only float rounding in the network differs:
    the error may differ by a handful of images at decision boundaries."""
    g = torch.Generator().manual_seed(0)
    images, labels = torch.rand(300, 1, 28, 28, generator=g), torch.randint(0, 10, (300,), generator=g)
    strengths = noise_strengths(0.5, 5)
    cpu = sweep(seeded_lenet(1), images, labels, "gaussian", strengths, log=lambda _: None)
    cuda = sweep(seeded_lenet(1).to(gpu), images, labels, "gaussian", strengths, log=lambda _: None)
    assert (cpu["dist"] - cuda["dist"]).abs().max() == 0
    assert (cpu["error"] - cuda["error"]).abs().max() <= 2 / 300


@needs_cuda
def test_lowpass_filter_noise_is_the_same_on_cuda(gpu):
    x = torch.rand(4, 1, 28, 28)
    cpu = LowPassFilter(5, 1.3, noise_sigma=0.15, seed=3)(x)
    cuda = LowPassFilter(5, 1.3, noise_sigma=0.15, seed=3).to(gpu)(x.to(gpu))
    torch.testing.assert_close(cuda.cpu(), cpu, atol=1e-5, rtol=1e-5)


@needs_cuda
def test_grouped_training_on_cuda_tracks_cpu(gpu):
    g = torch.Generator().manual_seed(0)
    images, labels = torch.rand(256, 1, 28, 28, generator=g), torch.randint(0, 10, (256,), generator=g)
    spec = SolverSettings(iterations=10, batch_size=32, log_every=100)
    cpu_group = LeNetGroup([seeded_lenet(1), seeded_lenet(2)])
    cuda_group = LeNetGroup([seeded_lenet(1), seeded_lenet(2)]).to(gpu)
    train_group(cpu_group, images, labels, spec, [1, 2], log=lambda _: None)
    train_group(cuda_group, images, labels, spec, [1, 2], log=lambda _: None)
    for cpu_state, cuda_state in zip(cpu_group.member_state_dicts(), cuda_group.member_state_dicts()):
        for name, tensor in cpu_state.items():
            torch.testing.assert_close(cuda_state[name].cpu(), tensor, atol=1e-4, rtol=1e-3, msg=name)
    member = LeNet()
    member.load_state_dict(cuda_group.member_state_dicts()[0])
    assert clean_error(member.to(gpu), images, labels) == pytest.approx(clean_error(member.cpu(), images, labels), abs=2 / 256)


@needs_cuda
def test_strong_evaluation_on_cuda_tracks_cpu(gpu):
    """FGSM, PGD, Square and AutoAttack (torchattacks on the GPU, the model's parameters
    frozen) on CUDA against the CPU: the attacks draw their random starts on the CPU, so the
    robust error differs by float rounding at decision boundaries, a few images at most."""
    model = seeded_lenet(1)
    x, y = labelled_by(model, n=24, seed=3)
    section = {**STRONG_ATTACKS_SECTION, "eps": [0.01, 0.03], "attacks": ["fgsm", "pgd", "square", "autoattack"]}
    settings = StrongAttackSettings.from_config({**section, "autoattack": {"steps": 10, "square_queries": 50}})
    cpu = evaluate_networks("lenet", model, {}, x, y, settings, {}, log=lambda _: None)
    cuda = evaluate_networks("lenet", seeded_lenet(1).to(gpu), {}, x.to(gpu), y.to(gpu), settings, {}, log=lambda _: None)
    assert list(cuda["attack"]) == list(cpu["attack"])
    robust_cpu, robust_cuda = (table[table["attack"] == "robust"]["error"].to_numpy() for table in (cpu, cuda))
    assert 0 < robust_cpu[1] < 1 and abs(robust_cpu - robust_cuda).max() <= 2 / 24
    assert all(p.requires_grad for p in model.parameters())  # AutoAttack froze them only while it ran
