"""Tests for mnistrobust.jobs.attacks: a method's gradient-sign map over the test set."""

from __future__ import annotations

import pytest
import torch

from mnistrobust.attacks.core import gradient_sign
from mnistrobust.data import load_split
from mnistrobust.io.checkpoints import MethodInputs
from mnistrobust.io.hdf5 import load_sign_map
from mnistrobust.jobs.attacks import make_sign_map
from mnistrobust.nets.defenses import LowPassFilter
from mnistrobust.nets.models import Committee, MeanMemberLoss, Stacked

from model_support import LOWPASS_SECTION, lenet_checkpoint, quiet, seeded_lenet

LOWPASS = {**LOWPASS_SECTION, "filters": LOWPASS_SECTION["filters"][:1], "noise_sigma": 0.0}
IMAGES = 40


@pytest.fixture
def checkpoint(tmp_path):
    """seeded_lenet(1) saved as the checkpoint of the model 'lenet'."""
    return lenet_checkpoint(tmp_path, seed=1)


@pytest.mark.parametrize("threat", ["end_to_end", "oblivious"])
def test_sign_map_job_stores_the_gradient_sign_of_the_threat_models_network(mnist_h5_file, tmp_path, checkpoint, threat):
    output = tmp_path / "attacks" / "lowpass3_lenet" / "sign.h5"
    spec = {"preprocess": "lowpass3", "members": ["lenet"]}
    make_sign_map(MethodInputs("lowpass3_lenet", spec, (checkpoint,), LOWPASS), str(mnist_h5_file), threat, str(output), IMAGES, log=quiet)
    expect = {"model": "lowpass3_lenet", "threat": threat, "members": "lenet", "images": IMAGES, "loss": "averaged_output"}
    sign, _ = load_sign_map(output, expect=expect)
    images, labels = load_split(mnist_h5_file, "test", limit=IMAGES)
    network = seeded_lenet(1) if threat == "oblivious" else Stacked(LowPassFilter(3, 7.0), seeded_lenet(1)).eval()
    assert torch.equal(sign, gradient_sign(network, images, labels))


def test_a_committees_sign_map_follows_its_attack_loss(mnist_h5_file, tmp_path):
    checkpoints = [lenet_checkpoint(tmp_path / name, seed=seed, name=name) for name, seed in (("a", 1), ("b", 2))]
    images, labels = load_split(mnist_h5_file, "test", limit=IMAGES)
    members = [seeded_lenet(1), seeded_lenet(2)]
    expected = {
        "averaged_output": gradient_sign(Committee(members).eval(), images, labels),
        "mean_member_loss": gradient_sign(MeanMemberLoss(members).eval(), images, labels),
    }
    assert not torch.equal(*expected.values())
    for attack_loss, sign in expected.items():
        output = tmp_path / attack_loss / "sign.h5"
        spec = {"preprocess": "none", "members": ["a", "b"], "attack_loss": attack_loss}
        make_sign_map(MethodInputs("c", spec, tuple(checkpoints), LOWPASS), str(mnist_h5_file), "end_to_end", str(output), IMAGES, log=quiet)
        stored, attrs = load_sign_map(output)
        assert torch.equal(stored, sign)
        assert attrs["loss"] == attack_loss
