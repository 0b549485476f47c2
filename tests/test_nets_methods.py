"""Tests for mnistrobust.methods and mnistrobust.naming: building evaluated methods from config."""

from __future__ import annotations

import math

import pytest
import torch

from mnistrobust.checkpoints import save_checkpoint
from mnistrobust.defenses import DenoisingAutoencoder, LowPassFilter
from mnistrobust.errors import CheckpointError, ConfigError
from mnistrobust.evaluation import sweep
from mnistrobust.methods import build_method
from mnistrobust.models import Committee, LeNet, Stacked
from mnistrobust.naming import check_method, noise_kind, parse_stage, stage_model_name

LOWPASS = {"filters": [{"size": 3, "variance": 7.0}, {"size": 5, "variance": 1.3}], "noise_sigma": 0.1, "noise_seed": 0}


def _save_lenet(path, name, seed):
    model = LeNet()
    model.reset_parameters(seed)
    save_checkpoint(path, model, {"name": name, "arch": "lenet", "dropout": {}, "seed": seed})
    return model.eval()


@pytest.fixture
def checkpoints(tmp_path):
    models = {name: _save_lenet(tmp_path / f"{name}.pt", name, seed) for name, seed in (("a", 1), ("b", 2))}
    dae = DenoisingAutoencoder({"input": 0.2})
    dae.reset_parameters(3)
    save_checkpoint(tmp_path / "dae.pt", dae, {"name": "dae", "arch": "dae", "dropout": {"input": 0.2}, "seed": 3})
    return tmp_path, models


def test_single_member_is_the_model_itself(checkpoints):
    folder, models = checkpoints
    method = build_method("m", {"preprocess": "none", "members": ["a"]}, [folder / "a.pt"], LOWPASS)
    x = torch.rand(5, 1, 28, 28)
    assert isinstance(method, LeNet) and not method.training
    torch.testing.assert_close(method(x), models["a"](x))


def test_committee_output_is_log_mean_of_member_softmax(checkpoints):
    folder, models = checkpoints
    method = build_method("c", {"preprocess": "none", "members": ["a", "b"]}, [folder / "a.pt", folder / "b.pt"], LOWPASS)
    assert isinstance(method, Committee)
    x = torch.rand(5, 1, 28, 28)
    mean = (models["a"](x).exp() + models["b"](x).exp()) / 2
    torch.testing.assert_close(method(x), mean.log())


def test_lowpass_method_stacks_the_filter_and_oblivious_threat_drops_it(checkpoints):
    folder, models = checkpoints
    spec = {"preprocess": "lowpass5", "members": ["a"]}
    stacked = build_method("f", spec, [folder / "a.pt"], LOWPASS)
    assert isinstance(stacked, Stacked) and isinstance(stacked.preprocess, LowPassFilter)
    assert (stacked.preprocess.size, stacked.preprocess.variance, stacked.preprocess.noise_sigma) == (5, 1.3, 0.1)
    oblivious = build_method("f", spec, [folder / "a.pt"], LOWPASS, threat="oblivious")
    assert isinstance(oblivious, LeNet)


def test_dae_method_stacks_the_dae_and_gradients_pass_through_it(checkpoints):
    folder, _ = checkpoints
    method = build_method("d", {"preprocess": "dae", "members": ["a"]}, [folder / "a.pt"], LOWPASS, dae_checkpoint=folder / "dae.pt")
    assert isinstance(method.preprocess, DenoisingAutoencoder) and not method.preprocess.training
    x = torch.rand(2, 1, 28, 28, requires_grad=True)
    method(x).sum().backward()
    assert x.grad.abs().sum() > 0


def test_dae_method_rejects_a_classifier_as_dae_and_a_dae_as_member(checkpoints):
    folder, _ = checkpoints
    with pytest.raises(CheckpointError, match="not the DAE"):
        build_method("d", {"preprocess": "dae", "members": ["a"]}, [folder / "a.pt"], LOWPASS, dae_checkpoint=folder / "a.pt")
    with pytest.raises(CheckpointError, match="not a classifier"):
        build_method("d", {"preprocess": "none", "members": ["dae"]}, [folder / "dae.pt"], LOWPASS)


def test_member_checkpoint_of_another_model_is_named(checkpoints):
    folder, _ = checkpoints
    with pytest.raises(CheckpointError, match="holds model 'b', expected member 'a'"):
        build_method("m", {"preprocess": "none", "members": ["a"]}, [folder / "b.pt"], LOWPASS)


@pytest.mark.parametrize(
    ("spec", "noise", "message"),
    [
        ({"preprocess": "lowpass9", "members": ["a"]}, None, "unknown preprocess 'lowpass9'"),
        ({"preprocess": "blur", "members": ["a"]}, None, "unknown preprocess 'blur'"),
        ({"preprocess": "none", "members": []}, None, "no members"),
        ({"preprocess": "none", "members": ["a"]}, "fgsm_oblivious", "no preprocessing"),
        ({"preprocess": "none", "members": ["a"]}, "salt", "unknown noise 'salt'"),
    ],
)
def test_bad_method_specs_are_named(spec, noise, message):
    with pytest.raises(ConfigError, match=message):
        check_method("m", spec, LOWPASS, noise)


def test_stage_names():
    assert parse_stage("adv_stage3", 5) == 3
    assert parse_stage("lenet", 5) is None and parse_stage("adv_stage0", 5) is None
    with pytest.raises(ConfigError, match="stages 1..5"):
        parse_stage("adv_stage9", 5)
    assert stage_model_name(0, "lenet") == "lenet" and stage_model_name(2, "lenet") == "adv_stage2"
    assert noise_kind("fgsm_oblivious") == "fgsm" and noise_kind("gaussian") == "gaussian"


def test_sweep_of_a_random_defense_repeats_exactly(checkpoints):
    folder, _ = checkpoints
    spec = {"preprocess": "lowpass3", "members": ["a"]}
    images = torch.rand(40, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(40) % 10
    curves = [
        sweep(build_method("f", spec, [folder / "a.pt"], LOWPASS), images, labels, "gaussian", [0.0, 0.3], batch_size=16, log=lambda m: None)
        for _ in range(2)
    ]
    assert curves[0].equals(curves[1])
    assert not math.isnan(curves[0]["error"].sum())
