"""Tests for mnistrobust.nets.methods: building evaluated methods (preprocessing, committees,
threat models) from loaded networks. (From checkpoint paths: load_method, in
test_io_checkpoints.py; the names and checks of a method spec: test_config.py.)"""

from __future__ import annotations

import pytest
import torch

from mnistrobust.errors import CheckpointError, ConfigError
from mnistrobust.nets.defenses import DenoisingAutoencoder, LowPassFilter
from mnistrobust.nets.methods import build_method, build_preprocess
from mnistrobust.nets.models import Committee, LeNet, MeanMemberLoss, Stacked
from model_support import LOWPASS_SECTION

LOWPASS = LOWPASS_SECTION


def _lenet(name: str, seed: int):
    model = LeNet()
    model.reset_parameters(seed)
    return model.eval(), {"name": name, "arch": "lenet", "dropout": {}, "seed": seed}


@pytest.fixture
def loaded():
    """Loaded networks as io.checkpoints.load_model returns them: (model, meta)."""
    dae = DenoisingAutoencoder({"input": 0.2})
    dae.reset_parameters(3)
    return {
        "a": _lenet("a", 1),
        "b": _lenet("b", 2),
        "dae": (dae.eval(), {"name": "dae", "arch": "dae", "dropout": {"input": 0.2}, "seed": 3}),
    }


def test_single_member_is_the_model_itself(loaded):
    method = build_method("m", {"preprocess": "none", "members": ["a"]}, [loaded["a"]], LOWPASS)
    assert method is loaded["a"][0]
    assert isinstance(method, LeNet) and not method.training


def test_committee_output_is_log_mean_of_member_softmax(loaded):
    method = build_method("c", {"preprocess": "none", "members": ["a", "b"]}, [loaded["a"], loaded["b"]], LOWPASS)
    assert isinstance(method, Committee) and not method.training
    x = torch.rand(5, 1, 28, 28)
    mean = (loaded["a"][0](x).exp() + loaded["b"][0](x).exp()) / 2
    torch.testing.assert_close(method(x), mean.log())


def test_mean_member_loss_changes_the_attackers_gradient_only(loaded):
    spec = {"preprocess": "none", "members": ["a", "b"], "attack_loss": "mean_member_loss"}
    members = [loaded["a"], loaded["b"]]
    assert type(build_method("c", spec, members, LOWPASS)) is Committee  # what is scored
    attacker = build_method("c", spec, members, LOWPASS, attacker=True)
    assert isinstance(attacker, MeanMemberLoss) and not attacker.training
    default = build_method("c", {**spec, "attack_loss": "averaged_output"}, members, LOWPASS, attacker=True)
    assert type(default) is Committee
    x, y = torch.rand(4, 1, 28, 28, requires_grad=True), torch.tensor([0, 3, 5, 9])

    def gradient(loss):
        return torch.autograd.grad(loss, x)[0]

    each = [torch.nn.functional.nll_loss(model(x), y) for model, _ in members]
    torch.testing.assert_close(gradient(torch.nn.functional.nll_loss(attacker(x), y)), gradient(sum(each) / 2))
    # The averaged output's gradient is another direction.
    averaged = gradient(torch.nn.functional.nll_loss(default(x), y))
    assert not torch.equal(averaged.sign(), gradient(torch.nn.functional.nll_loss(attacker(x), y)).sign())


def test_attack_loss_is_for_committees(loaded):
    with pytest.raises(ConfigError, match="attack_loss is a committee's"):
        build_method("m", {"preprocess": "none", "members": ["a"], "attack_loss": "mean_member_loss"}, [loaded["a"]], LOWPASS)


def test_lowpass_method_stacks_the_filter_and_oblivious_threat_drops_it(loaded):
    spec = {"preprocess": "lowpass5", "members": ["a"]}
    stacked = build_method("f", spec, [loaded["a"]], LOWPASS)
    assert isinstance(stacked, Stacked) and isinstance(stacked.preprocess, LowPassFilter)
    assert (stacked.preprocess.size, stacked.preprocess.variance, stacked.preprocess.noise_sigma) == (5, 1.3, 0.1)
    assert stacked.classifier is loaded["a"][0]
    oblivious = build_method("f", spec, [loaded["a"]], LOWPASS, threat="oblivious")
    assert oblivious is loaded["a"][0]


def test_dae_method_stacks_the_dae_and_gradients_pass_through_it(loaded):
    method = build_method("d", {"preprocess": "dae", "members": ["a"]}, [loaded["a"]], LOWPASS, dae=loaded["dae"])
    assert method.preprocess is loaded["dae"][0] and not method.preprocess.training
    x = torch.rand(2, 1, 28, 28, requires_grad=True)
    method(x).sum().backward()
    assert x.grad.abs().sum() > 0


def test_dae_method_rejects_a_classifier_as_dae_a_dae_as_member_and_no_dae(loaded):
    with pytest.raises(CheckpointError, match="holds a 'lenet' network, not the DAE"):
        build_method("d", {"preprocess": "dae", "members": ["a"]}, [loaded["a"]], LOWPASS, dae=loaded["a"])
    with pytest.raises(CheckpointError, match="holds the DAE, which is not a classifier"):
        build_method("d", {"preprocess": "none", "members": ["dae"]}, [loaded["dae"]], LOWPASS)
    with pytest.raises(ConfigError, match="preprocess 'dae' needs the DAE checkpoint"):
        build_method("d", {"preprocess": "dae", "members": ["a"]}, [loaded["a"]], LOWPASS)


def test_member_of_another_model_is_named(loaded):
    with pytest.raises(CheckpointError, match="holds model 'b', expected member 'a'"):
        build_method("m", {"preprocess": "none", "members": ["a"]}, [loaded["b"]], LOWPASS)
    model, meta = loaded["b"]
    with pytest.raises(CheckpointError, match=r"^results/models/b\.pt holds model 'b', expected member 'a'$"):
        build_method("m", {"preprocess": "none", "members": ["a"]}, [(model, {**meta, "checkpoint": "results/models/b.pt"})], LOWPASS)


def test_member_count_threat_model_and_spec_are_checked(loaded):
    with pytest.raises(ConfigError, match="has 2 members but 1 checkpoints"):
        build_method("c", {"preprocess": "none", "members": ["a", "b"]}, [loaded["a"]], LOWPASS)
    with pytest.raises(ConfigError, match="unknown threat model 'grey_box'"):
        build_method("m", {"preprocess": "none", "members": ["a"]}, [loaded["a"]], LOWPASS, threat="grey_box")
    with pytest.raises(ConfigError, match="unknown preprocess 'lowpass9'"):
        build_method("m", {"preprocess": "lowpass9", "members": ["a"]}, [loaded["a"]], LOWPASS)
    with pytest.raises(ConfigError, match="no members"):
        build_method("m", {"preprocess": "none", "members": []}, [], LOWPASS)


def test_build_preprocess(loaded):
    assert build_preprocess("none", LOWPASS) is None
    lowpass = build_preprocess("lowpass3", {**LOWPASS, "noise_sigma": 0.0})
    assert isinstance(lowpass, LowPassFilter) and (lowpass.size, lowpass.variance, lowpass.noise_sigma) == (3, 7.0, 0.0)
    assert build_preprocess("dae", LOWPASS, loaded["dae"]) is loaded["dae"][0]
    with pytest.raises(ConfigError, match="unknown preprocess 'lowpass7'"):
        build_preprocess("lowpass7", LOWPASS)


def test_the_lowpass_noise_repeats_from_its_seed(loaded):
    spec = {"preprocess": "lowpass3", "members": ["a"]}
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    first = build_method("f", spec, [loaded["a"]], LOWPASS).preprocess(x)
    second = build_method("f", spec, [loaded["a"]], LOWPASS).preprocess(x)
    other = build_method("f", spec, [loaded["a"]], {**LOWPASS, "noise_seed": 1}).preprocess(x)
    torch.testing.assert_close(first, second)
    assert not torch.allclose(first, other)
