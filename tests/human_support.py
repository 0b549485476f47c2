"""Shared inputs of the human-study tests: real MNIST and USPS, a sign map, stimulus files.

The sign map comes from an untrained LeNet: the stimulus code only needs *a* gradient
sign of the right shape, and training one would cost seconds in every test session.
tests/conftest.py registers this module as a plugin, so its fixtures serve every test module.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from mnistrobust.attacks.core import gradient_sign
from mnistrobust.data import acquire_usps, load_split
from mnistrobust.jobs.human import build_stimulus_file
from mnistrobust.io.hdf5 import save_sign_map
from mnistrobust.nets.models import build_model

POOL_IMAGES = 600  # MNIST test images the sets are drawn from (a set needs 195 distinct ones)

PAPER_DESIGN = {
    "mode": "per_subject",
    "seed": 0,
    "natural_images": 15,
    "images_per_level": 15,
    "gaussian_sigmas": [0.09, 0.18, 0.27, 0.36, 0.45, 0.54],
    "fgsm_eps": [0.07, 0.14, 0.21, 0.28, 0.34, 0.4],
    "usps_per_digit": 1,
    "usps_digit_size": 20,
}
# 2 natural + 2 x 2 Gaussian + 2 x 2 gradient-sign + 10 USPS = 20 images: fast server tests.
TINY_DESIGN = {
    **PAPER_DESIGN,
    "natural_images": 2,
    "images_per_level": 2,
    "gaussian_sigmas": [0.2, 0.5],
    "fgsm_eps": [0.1, 0.3],
}


def quiet(_message: str) -> None:
    pass


@pytest.fixture(scope="session")
def human_inputs(mnist_h5_file, usps_dir, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("human_inputs")
    usps_h5 = folder / "usps.h5"
    acquire_usps(usps_h5, ["local"], str(usps_dir), log=quiet)
    torch.manual_seed(0)
    images, labels = load_split(mnist_h5_file, "test", limit=POOL_IMAGES)
    sign_map = folder / "sign.h5"
    save_sign_map(
        sign_map, gradient_sign(build_model("lenet", {}).eval(), images, labels), {"model": "untrained_lenet"}
    )
    return {"mnist": mnist_h5_file, "usps": usps_h5, "sign_map": sign_map}


def build(inputs: dict[str, Path], output: Path, group: str = "subjects", sets=4, settings=None) -> Path:
    build_stimulus_file(
        inputs["mnist"],
        inputs["usps"],
        inputs["sign_map"],
        output,
        group=group,
        sets=sets,
        settings=settings or PAPER_DESIGN,
        test_images=POOL_IMAGES,
        log=quiet,
    )
    return output


@pytest.fixture(scope="session")
def paper_stimuli(human_inputs, tmp_path_factory) -> Path:
    """4 subjects' sets of the paper's design (205 images each)."""
    return build(human_inputs, tmp_path_factory.mktemp("paper_stimuli") / "subjects_stimuli.h5")


@pytest.fixture(scope="session")
def tiny_stimuli(human_inputs, tmp_path_factory) -> Path:
    """20 subjects' sets of 20 images each, for the server tests."""
    return build(
        human_inputs, tmp_path_factory.mktemp("tiny_stimuli") / "subjects_stimuli.h5", sets=20, settings=TINY_DESIGN
    )


class LiveServer:
    """The experiment served from a thread on a free port of 127.0.0.1."""

    def __init__(self, stimuli: Path, db: Path, simulated: bool = True):
        from mnistrobust.human.server import make_experiment_server

        self.server = make_experiment_server(stimuli, db, host="127.0.0.1", port=0, simulated=simulated)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)
