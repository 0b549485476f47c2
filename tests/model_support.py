"""Small inputs shared by the model, attack, training, evaluation, job, report and config
tests: seeded generators, LeNets, linear classifiers and random images, a saved LeNet
checkpoint, error curves, and config sections."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from mnistrobust.io.checkpoints import save_checkpoint
from mnistrobust.nets.models import LeNet
from mnistrobust.io.curves import CURVE_COLUMNS

# ------------------------------------------------------------------ config sections

# The config's lowpass section: Table 2's 3x3 and 5x5 filters with the paper's noise.
LOWPASS_SECTION = {
    "filters": [{"size": 3, "variance": 7.0}, {"size": 5, "variance": 1.3}],
    "sampling": "cell_centres",
    "noise_sigma": 0.1,
    "noise_seed": 0,
    "calibration_model": "lenet",
    "calibration_sigmas": [0.0, 0.1],
}

# The config's strong_attacks section without 'enabled' and 'fast_reference': what the jobs get.
STRONG_ATTACKS_SECTION = {
    "test_images": 24,
    "eps": [0.1, 0.2, 0.3],
    "sanity_eps": 1.0,
    "sanity_min_error": 0.95,
    "attacks": ["fgsm", "pgd", "eot_pgd", "transfer"],
    "pgd": {"steps": 6, "restarts": 2, "relative_step_size": 2.5},
    "square": {"queries": 30, "p_init": 0.3},
    "autoattack": {"version": "standard", "steps": 5, "square_queries": 60, "eot_samples": 3},
    "cascade": True,
    "eot_samples": 3,
    "transfer_sources": ["lenet"],
    "flag_tolerance_pct": 1.0,
    "seed": 0,
    "batch_size": 10,
}

# A config models section of five LeNets: a and b can train as one group; c repeats b's
# seed, d trains for more iterations than a, and e adds input dropout to a.
MODELS_SECTION = {
    "a": {"arch": "lenet", "seed": 1, "iterations": 10, "dropout": {}},
    "b": {"arch": "lenet", "seed": 2, "iterations": 10, "dropout": {}},
    "c": {"arch": "lenet", "seed": 2, "iterations": 10, "dropout": {}},
    "d": {"arch": "lenet", "seed": 4, "iterations": 20, "dropout": {}},
    "e": {"arch": "lenet", "seed": 5, "iterations": 10, "dropout": {"input": 0.2}},
}

# ------------------------------------------------------------------ random numbers, networks and images


def seeded_generator(seed: int) -> torch.Generator:
    """A CPU torch generator seeded with ``seed``, apart from torch's global one."""
    return torch.Generator().manual_seed(seed)


def seeded_lenet(seed: int = 0, dropout: dict | None = None) -> LeNet:
    """An untrained LeNet with the Caffe Xavier initialisation of ``seed``, in eval mode
    (``training.solver.train`` switches to train mode itself)."""
    model = LeNet(dropout)
    model.reset_parameters(seed)
    return model.eval()


def linear_classifier(seed: int = 0, dtype=torch.float32) -> nn.Sequential:
    """Flatten, 784 -> 10 linear, log-softmax, in eval mode: weights and biases N(0, 0.1^2)
    drawn from generators seeded ``seed`` and ``seed + 1``. Also seeds torch's global
    generator with ``seed``."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.LogSoftmax(1)).to(dtype)
    with torch.no_grad():
        model[1].weight.normal_(0.0, 0.1, generator=seeded_generator(seed))
        model[1].bias.normal_(0.0, 0.1, generator=seeded_generator(seed + 1))
    return model.eval()


def zero_bias_linear_classifier(seed: int = 0) -> nn.Sequential:
    """Flatten, 784 -> 10 linear, log-softmax, in eval mode: weights 0.05 x N(0, 1) drawn
    from ``seed``, biases zero. Leaves torch's global generator alone."""
    generator = seeded_generator(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.LogSoftmax(1))
    with torch.no_grad():
        model[1].weight.copy_(0.05 * torch.randn(10, 784, generator=generator))
        model[1].bias.zero_()
    return model.eval()


def random_set(n: int = 64, seed: int = 0, low: float = 0.0, high: float = 1.0, dtype=torch.float32):
    """``n`` images uniform in [low, high) and random labels, drawn from ``seed``."""
    generator = seeded_generator(seed)
    images = low + (high - low) * torch.rand(n, 1, 28, 28, generator=generator, dtype=dtype)
    return images, torch.randint(0, 10, (n,), generator=generator)


def labelled_by(model: nn.Module, n: int = 24, seed: int = 0):
    """The images of ``random_set(n, seed)`` labelled by ``model`` itself: its clean error is 0,
    so every error is the attack's."""
    images, _ = random_set(n, seed)
    with torch.no_grad():
        return images, model(images).argmax(1)


# ------------------------------------------------------------------ what jobs read and write


def quiet(_message: str) -> None:
    """A job log that drops every line."""


def lenet_checkpoint(folder: Path, seed: int, name: str = "lenet") -> str:
    """``seeded_lenet(seed)`` saved as ``folder/<name>.pt`` with the metadata of a config model
    ``name``; returns the path as a string, as the jobs take it."""
    path = Path(folder) / f"{name}.pt"
    save_checkpoint(path, seeded_lenet(seed), {"name": name, "arch": "lenet", "dropout": {}, "seed": seed})
    return str(path)


def error_curve(dist, error) -> pd.DataFrame:
    """An error curve as the sweep job writes it (levels 0, 1, ...), with strength = dist."""
    return pd.DataFrame({"level": np.arange(len(dist)), "strength": dist, "dist": dist, "error": error}, columns=CURVE_COLUMNS)


# Two methods' curves for Table 2. "No method" reads 1%, 50% and 75% at dists 0, 0.1 and 0.2;
# "Dropout" reads 2%, 30% and 50%.
TABLE2_CURVES = {
    "No method": error_curve([0.0, 0.1, 0.3], [0.01, 0.5, 1.0]),
    "Dropout": error_curve([0.0, 0.05, 0.25], [0.02, 0.2, 0.6]),
}
