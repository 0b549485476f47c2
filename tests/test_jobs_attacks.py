"""Tests for mnistrobust.jobs.attacks: a method's gradient-sign map over the test set."""

from __future__ import annotations

import pytest
import torch

from mnistrobust.attacks.core import gradient_sign
from mnistrobust.data import load_split
from mnistrobust.io.hdf5 import load_sign_map
from mnistrobust.jobs.attacks import make_sign_map
from mnistrobust.nets.defenses import LowPassFilter
from mnistrobust.nets.models import Stacked

from model_support import lenet_checkpoint, quiet, seeded_lenet

LOWPASS = {"filters": [{"size": 3, "variance": 7.0}], "noise_sigma": 0.0, "noise_seed": 0}
IMAGES = 40


@pytest.fixture
def checkpoint(tmp_path):
    """seeded_lenet(1) saved as the checkpoint of the model 'lenet'."""
    return lenet_checkpoint(tmp_path, seed=1)


@pytest.mark.parametrize("threat", ["end_to_end", "oblivious"])
def test_sign_map_job_stores_the_gradient_sign_of_the_threat_models_network(mnist_h5_file, tmp_path, checkpoint, threat):
    output = tmp_path / "attacks" / "lowpass3_lenet" / "sign.h5"
    spec = {"preprocess": "lowpass3", "members": ["lenet"]}
    make_sign_map(str(mnist_h5_file), "lowpass3_lenet", spec, [checkpoint], LOWPASS, threat, str(output), IMAGES, log=quiet)
    expect = {"model": "lowpass3_lenet", "threat": threat, "members": "lenet", "images": IMAGES, "loss": "nll(log_softmax)"}
    sign, _ = load_sign_map(output, expect=expect)
    images, labels = load_split(mnist_h5_file, "test", limit=IMAGES)
    network = seeded_lenet(1) if threat == "oblivious" else Stacked(LowPassFilter(3, 7.0), seeded_lenet(1)).eval()
    assert torch.equal(sign, gradient_sign(network, images, labels))
