"""Tests for mnistrobust.nets.models: the Caffe LeNet, its dropout sites, committees, and
LeNetGroup (K LeNets as one network; trained as each alone: test_training_solver.py)."""

from __future__ import annotations

import math

import pytest
import torch

from mnistrobust.errors import ConfigError
from mnistrobust.nets.models import DROPOUT_SITES, Committee, LeNet, LeNetGroup, build_model, count_parameters

from model_support import seeded_lenet

ALL_DROPOUT = {"input": 0.2, "conv1": 0.2, "conv2": 0.2, "full": 0.5, "output": 0.5}


def _images(n: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def test_output_is_n_by_10_log_probabilities():
    model = seeded_lenet().eval()
    out = model(_images(5))
    assert out.shape == (5, 10)
    assert out.dtype == torch.float32
    assert torch.all(out <= 0)
    torch.testing.assert_close(out.exp().sum(1), torch.ones(5), atol=1e-6, rtol=0)


def test_forward_is_log_softmax_of_logits():
    model = seeded_lenet().eval()
    x = _images(3)
    torch.testing.assert_close(model(x), torch.log_softmax(model.logits(x), dim=1))


def test_parameter_count_matches_caffe_lenet():
    # conv1 20*25+20, conv2 50*20*25+50, ip1 800*500+500, ip2 500*10+10
    assert 20 * 25 + 20 + 50 * 20 * 25 + 50 + 800 * 500 + 500 + 500 * 10 + 10 == 431_080
    assert count_parameters(LeNet()) == 431_080
    # dropout adds no parameters
    assert count_parameters(LeNet(ALL_DROPOUT)) == 431_080


def test_build_model_returns_lenet_and_rejects_unknown_arch():
    model = build_model("lenet", {"input": 0.2})
    assert isinstance(model, LeNet)
    assert model.dropout_rates["input"] == 0.2
    with pytest.raises(ConfigError, match="resnet"):
        build_model("resnet", None)



def test_lenet_relu_adds_relus_after_the_convolutions_only():
    caffe, relu = seeded_lenet(3), build_model("lenet_relu")
    relu.load_state_dict(caffe.state_dict())  # the same parameters, nothing added
    assert count_parameters(relu) == count_parameters(caffe) and relu.conv_relu and not caffe.conv_relu
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    conv1 = caffe.conv1(x)
    assert (conv1 < 0).any()  # so the ReLU changes something
    expected = relu.ip2(torch.relu(relu.ip1(torch.nn.functional.max_pool2d(
        torch.relu(relu.conv2(torch.nn.functional.max_pool2d(torch.relu(conv1), 2))), 2).flatten(1))))
    assert torch.allclose(relu.logits(x), expected, atol=1e-5)
    assert not torch.allclose(relu.logits(x), caffe.logits(x), atol=1e-3)

@pytest.mark.parametrize(
    "layer, fan_in",
    [("conv1", 1 * 5 * 5), ("conv2", 20 * 5 * 5), ("ip1", 800), ("ip2", 500)],
)
def test_caffe_xavier_bounds_and_zero_biases(layer, fan_in):
    model = LeNet()
    # PyTorch's default init gives non-zero biases: reset_parameters must zero them.
    model.reset_parameters(3)
    module = getattr(model, layer)
    bound = math.sqrt(3.0 / fan_in)
    weight = module.weight.detach()
    assert weight.abs().max().item() <= bound
    # Uniform over the whole interval, not a narrower one (e.g. a wrong fan_in).
    assert weight.abs().max().item() > 0.9 * bound
    assert weight.min().item() < -0.9 * bound
    assert torch.count_nonzero(module.bias) == 0


def test_caffe_xavier_std_matches_uniform_on_large_layer():
    model = seeded_lenet(5)
    bound = math.sqrt(3.0 / 800)
    std = model.ip1.weight.detach().std().item()
    assert std == pytest.approx(bound / math.sqrt(3.0), rel=0.02)
    assert abs(model.ip1.weight.detach().mean().item()) < 0.01 * bound


def test_same_seed_identical_weights_different_seed_different():
    a, b, c = seeded_lenet(7), seeded_lenet(7), seeded_lenet(8)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert sa.keys() == sb.keys() == sc.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key
    for key in ("conv1.weight", "conv2.weight", "ip1.weight", "ip2.weight"):
        assert not torch.equal(sa[key], sc[key]), key


def test_reset_parameters_does_not_depend_on_global_rng():
    torch.manual_seed(1)
    a = seeded_lenet(11)
    torch.manual_seed(2)
    b = seeded_lenet(11)
    assert torch.equal(a.ip1.weight, b.ip1.weight)


@pytest.mark.parametrize("dropout", [{"hidden": 0.5}, {"input": 0.2, "fc3": 0.1}])
def test_unknown_dropout_site_raises(dropout):
    with pytest.raises(ConfigError, match="unknown dropout site"):
        LeNet(dropout)


@pytest.mark.parametrize("rate", [1.0, 1.5, -0.1])
def test_dropout_rate_out_of_range_raises(rate):
    with pytest.raises(ConfigError, match="dropout rate"):
        LeNet({"full": rate})


def test_zero_rate_adds_no_dropout_module():
    model = LeNet({"input": 0.0, "full": 0.5})
    assert set(model.drop.keys()) == {"full"}
    assert model.dropout_rates == {"input": 0.0, "conv1": 0.0, "conv2": 0.0, "full": 0.5, "output": 0.0}


@pytest.mark.parametrize("site", DROPOUT_SITES)
def test_each_dropout_site_is_active_in_train_mode(site):
    model = seeded_lenet(0, {site: 0.5}).train()
    x = _images(4)
    torch.manual_seed(0)
    first = model(x)
    second = model(x)
    assert not torch.allclose(first, second)


@pytest.mark.parametrize("dropout", [ALL_DROPOUT, {"input": 0.2}, {"output": 0.5}])
def test_dropout_off_in_eval_mode_and_equal_to_plain_model(dropout):
    dropped = seeded_lenet(1, dropout)
    plain = LeNet()
    plain.load_state_dict(dropped.state_dict())
    dropped.eval()
    plain.eval()
    x = _images(6)
    first, second = dropped(x), dropped(x)
    assert torch.equal(first, second)
    assert torch.equal(first, plain(x))


def test_train_mode_without_dropout_is_deterministic():
    model = seeded_lenet(2).train()
    x = _images(3)
    assert torch.equal(model(x), model(x))


def test_committee_is_log_of_mean_softmax():
    members = [seeded_lenet(seed).eval() for seed in (0, 1, 2)]
    committee = Committee(members).eval()
    x = _images(5)
    expected = torch.stack([m(x) for m in members]).exp().mean(0).log()
    out = committee(x)
    assert out.shape == (5, 10)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.exp().sum(1), torch.ones(5), atol=1e-5, rtol=0)
    # It is not the mean of log-probabilities (a geometric mean) for distinct members.
    assert not torch.allclose(out, torch.stack([m(x) for m in members]).mean(0), atol=1e-4)


def test_committee_of_one_equals_member():
    member = seeded_lenet(4).eval()
    x = _images(3)
    torch.testing.assert_close(Committee([member])(x), member(x), atol=1e-6, rtol=0)


def test_committee_of_identical_members_equals_member():
    member = seeded_lenet(4).eval()
    x = _images(3)
    torch.testing.assert_close(Committee([member, member, member])(x), member(x), atol=1e-5, rtol=0)


def test_empty_committee_raises():
    with pytest.raises(ConfigError, match="at least one member"):
        Committee([])


# ------------------------------------------------------------------ LeNetGroup


def test_group_forward_equals_each_member_on_its_own_channel():
    members = [seeded_lenet(seed) for seed in (1, 2, 3)]
    group = LeNetGroup(members).eval()
    x = torch.rand(5, 3, 28, 28)
    out = group(x)
    assert out.shape == (3, 5, 10)
    for k, member in enumerate(members):
        torch.testing.assert_close(out[k], member.eval()(x[:, k : k + 1]), atol=1e-5, rtol=1e-5)


def test_member_state_dicts_round_trip_into_lenets():
    members = [seeded_lenet(seed) for seed in (4, 5)]
    group = LeNetGroup(members)
    for member, state in zip(members, group.member_state_dicts()):
        rebuilt = LeNet()
        rebuilt.load_state_dict(state)
        for name, tensor in member.state_dict().items():
            assert torch.equal(rebuilt.state_dict()[name], tensor), name


def test_group_rejects_members_with_different_dropout():
    with pytest.raises(ConfigError, match="dropout"):
        LeNetGroup([seeded_lenet(1), seeded_lenet(2, {"input": 0.2})])


# ------------------------------------------------------------------ dropout placement

# Per placement and site: the blob the site's Dropout module must receive, computed from a
# LeNet's layers by hand (no dropout anywhere else), and its shape for a batch of 4.
def _blob(model: LeNet, x: torch.Tensor, placement: str, site: str) -> torch.Tensor:
    import torch.nn.functional as F

    conv1 = model.conv1(x)
    pool1 = F.max_pool2d(conv1, 2)
    conv2 = model.conv2(pool1)
    pool2 = F.max_pool2d(conv2, 2)
    ip1 = F.relu(model.ip1(pool2.flatten(1)))
    caffe = {"input": x, "conv1": conv1, "conv2": conv2, "full": ip1, "output": model.ip2(ip1)}
    after_pooling = {**caffe, "conv1": pool1, "conv2": pool2, "output": ip1}
    return (caffe if placement == "caffe" else after_pooling)[site]


@pytest.mark.parametrize("placement", ["caffe", "after_pooling"])
@pytest.mark.parametrize("site", DROPOUT_SITES)
def test_each_dropout_acts_on_the_blob_its_placement_names(placement, site):
    """A forward hook on the one Dropout module sees exactly the named blob, and in train
    mode the caffe placement's output dropout zeroes logits (after_pooling: ip1's units)."""
    model = LeNet({site: 0.5}, placement=placement)
    model.reset_parameters(3)
    x = _images(4)
    seen = []
    model.drop[site].register_forward_hook(lambda module, inputs, output: seen.append((inputs[0], output)))
    model.train()
    model.logits(x)
    (blob_in, blob_out), = seen
    expected = _blob(model, x, placement, site)
    assert blob_in.shape == expected.shape
    torch.testing.assert_close(blob_in, expected, atol=1e-6, rtol=1e-6)
    assert (blob_out == 0).any() and not (expected == 0).all()
    if placement == "caffe" and site == "output":
        assert blob_out.shape == (4, 10)


def test_caffe_placement_returns_the_dropped_logits_and_keeps_ip1_units_once():
    """caffe: 'full' and 'output' act on different blobs, so ip1's units are dropped once
    (kept with probability 0.5, not 0.25 as under after_pooling)."""
    model = LeNet({"full": 0.5, "output": 0.5}, placement="caffe")
    model.reset_parameters(0)
    kept = []
    model.drop["full"].register_forward_hook(
        lambda module, inputs, output: kept.append((output != 0).sum() / (inputs[0] != 0).sum())
    )
    logits = []
    model.drop["output"].register_forward_hook(lambda module, inputs, output: logits.append(output))
    model.train()
    torch.manual_seed(0)
    out = model.logits(_images(64))
    assert torch.equal(out, logits[0])
    assert 0.45 < float(kept[0]) < 0.55


@pytest.mark.parametrize("placement", ["caffe", "after_pooling"])
def test_eval_mode_is_deterministic_and_placement_free(placement):
    model = LeNet(ALL_DROPOUT, placement=placement)
    model.reset_parameters(1)
    other = LeNet(ALL_DROPOUT, placement="after_pooling" if placement == "caffe" else "caffe")
    other.load_state_dict(model.state_dict())
    x = _images(6)
    model.eval(), other.eval()
    assert torch.equal(model(x), model(x))
    assert torch.equal(model(x), other(x))


def test_the_placements_train_differently():
    x = _images(8)
    outputs = []
    for placement in ("caffe", "after_pooling"):
        model = LeNet(ALL_DROPOUT, placement=placement)
        model.reset_parameters(1)
        torch.manual_seed(0)
        outputs.append(model.train()(x))
    assert not torch.allclose(*outputs)


def test_unknown_placement_raises():
    with pytest.raises(ConfigError, match="unknown dropout placement 'before'"):
        LeNet(ALL_DROPOUT, placement="before")


@pytest.mark.parametrize("placement", ["caffe", "after_pooling"])
def test_group_of_one_matches_lenet_bit_for_bit_in_train_mode(placement):
    """Same masks (same generator state, same blob shapes) and the same arithmetic: the
    grouped network drops the same units as the LeNet under either placement."""
    member = LeNet(ALL_DROPOUT, placement=placement)
    member.reset_parameters(3)
    group = LeNetGroup([member])
    assert group.placement == placement
    x = _images(8)
    member.train(), group.train()
    torch.manual_seed(5)
    alone = member(x)
    torch.manual_seed(5)
    grouped = group(x)[0]
    assert torch.equal(alone, grouped)


def test_group_rejects_members_with_different_placement():
    members = [LeNet(ALL_DROPOUT, placement=placement) for placement in ("caffe", "after_pooling")]
    with pytest.raises(ConfigError, match="placement"):
        LeNetGroup(members)


def test_build_model_passes_the_placement_to_lenets_only():
    assert build_model("lenet", ALL_DROPOUT, "after_pooling").placement == "after_pooling"
    assert build_model("lenet", ALL_DROPOUT).placement == "caffe"
    with pytest.raises(ConfigError, match="placement is for LeNets"):
        build_model("dae", {"input": 0.2}, "caffe")
