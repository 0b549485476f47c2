"""Small inputs shared by the model, attack, training and evaluation tests: seeded
LeNets, seeded random images, and a one-thread setting for tiny LeNet steps."""

from __future__ import annotations

import pytest
import torch

from mnistrobust.models import LeNet


def seeded_lenet(seed: int = 0, dropout: dict | None = None) -> LeNet:
    """An untrained LeNet with the Caffe Xavier initialisation of ``seed``, in eval mode
    (``training.train`` switches to train mode itself)."""
    model = LeNet(dropout)
    model.reset_parameters(seed)
    return model.eval()


def random_set(n: int = 64, seed: int = 0, low: float = 0.0, high: float = 1.0, dtype=torch.float32):
    """``n`` images uniform in [low, high) and random labels, drawn from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    images = low + (high - low) * torch.rand(n, 1, 28, 28, generator=generator, dtype=dtype)
    return images, torch.randint(0, 10, (n,), generator=generator)


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread: LeNet steps are tiny, and on a shared 2-core machine a second
    spinning thread makes them several times slower. Results do not depend on it.
    Modules that want it use ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
