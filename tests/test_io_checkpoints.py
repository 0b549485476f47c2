"""Tests for mnistrobust.io.checkpoints: saving and loading networks with their metadata,
and loading a configured method from its checkpoints (load_method)."""

from __future__ import annotations

import os

import pytest
import torch

from mnistrobust.errors import CheckpointError
from mnistrobust.io.checkpoints import FORMAT, MethodInputs, load_method, load_model, read_checkpoint, save_checkpoint
from mnistrobust.nets.defenses import DenoisingAutoencoder, LowPassFilter
from mnistrobust.nets.models import Committee, LeNet, MeanMemberLoss, Stacked
from model_support import LOWPASS_SECTION

META = {"name": "lenet-test", "arch": "lenet", "dropout": {"input": 0.2, "full": 0.5}, "seed": 3, "metrics": {"clean_test_error": 0.01}}


def _model(seed: int = 3, dropout=None) -> LeNet:
    model = LeNet(META["dropout"] if dropout is None else dropout)
    model.reset_parameters(seed)
    # make biases non-zero so that they are checked too
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 1:
                p.uniform_(-0.1, 0.1, generator=torch.Generator().manual_seed(seed))
    return model


def _images() -> torch.Tensor:
    return torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def _checkpoint(tmp_path) -> str:
    path = tmp_path / "model.pt"
    save_checkpoint(path, _model(), META)
    return path


def _raises_with_path(path):
    with pytest.raises(CheckpointError) as info:
        load_model(path)
    assert str(path) in str(info.value)
    return info.value


def test_round_trip_restores_outputs_and_meta(tmp_path):
    model = _model().eval()
    path = tmp_path / "sub" / "model.pt"
    save_checkpoint(path, model, META)
    assert path.is_file()
    loaded, meta = load_model(path)
    assert meta == META
    assert isinstance(loaded, LeNet)
    assert not loaded.training
    assert loaded.dropout_rates == model.dropout_rates
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    x = _images()
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    payload = read_checkpoint(path)
    assert payload["format"] == FORMAT
    assert sorted(os.listdir(path.parent)) == ["model.pt"]


def test_round_trip_of_channels_last_model(tmp_path):
    model = _model().eval().to(memory_format=torch.channels_last)
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, META)
    loaded, _ = load_model(path)
    x = _images()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), atol=1e-6, rtol=0)


@pytest.mark.parametrize("missing", ["arch", "dropout", "seed"])
def test_save_requires_meta_keys(tmp_path, missing):
    path = tmp_path / "model.pt"
    meta = {k: v for k, v in META.items() if k != missing}
    with pytest.raises(CheckpointError, match=missing):
        save_checkpoint(path, _model(), meta)
    assert not path.exists()
    assert os.listdir(tmp_path) == []


def test_missing_file_raises(tmp_path):
    _raises_with_path(tmp_path / "absent.pt")


def test_directory_instead_of_file_raises(tmp_path):
    folder = tmp_path / "model.pt"
    folder.mkdir()
    _raises_with_path(folder)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_bytes_raise(tmp_path, seed):
    path = tmp_path / "random.pt"
    g = torch.Generator().manual_seed(seed)
    path.write_bytes(bytes(torch.randint(0, 256, (2048,), generator=g, dtype=torch.uint8).tolist()))
    _raises_with_path(path)


@pytest.mark.parametrize("content", [b".", b"hello world", b"h\x01"], ids=["stop-opcode", "text", "get-opcode"])
def test_garbage_that_torch_reports_as_index_or_key_error_raises(tmp_path, content):
    path = tmp_path / "garbage.pt"
    path.write_bytes(content)
    _raises_with_path(path)


def test_empty_file_raises(tmp_path):
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    _raises_with_path(path)


def test_truncated_checkpoint_raises(tmp_path):
    path = _checkpoint(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    error = _raises_with_path(path)
    assert "corrupt" in str(error)


def test_plain_dict_without_format_raises(tmp_path):
    path = tmp_path / "plain.pt"
    torch.save({"meta": META, "state_dict": _model().state_dict()}, path)
    error = _raises_with_path(path)
    assert FORMAT in str(error)


def test_other_format_version_raises(tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"format": "mnistrobust-checkpoint/0", "meta": META, "state_dict": _model().state_dict()}, path)
    _raises_with_path(path)


@pytest.mark.parametrize(
    "payload",
    [{"format": FORMAT}, {"format": FORMAT, "meta": {"seed": 0}, "state_dict": {}}, {"format": FORMAT, "meta": META}],
    ids=["format-only", "meta-without-arch", "no-state-dict"],
)
def test_checkpoint_missing_contents_raises(tmp_path, payload):
    path = tmp_path / "hollow.pt"
    torch.save(payload, path)
    _raises_with_path(path)


def test_wrong_shape_state_dict_raises(tmp_path):
    path = tmp_path / "wrong.pt"
    state = _model().state_dict()
    state["ip2.weight"] = torch.zeros(5, 500)
    state["ip2.bias"] = torch.zeros(5)
    torch.save({"format": FORMAT, "meta": META, "state_dict": state}, path)
    error = _raises_with_path(path)
    assert "lenet" in str(error)


def test_state_dict_of_other_network_raises(tmp_path):
    path = tmp_path / "other.pt"
    save_checkpoint(path, torch.nn.Linear(784, 10), META)
    _raises_with_path(path)


def test_failed_checkpoint_save_leaves_no_file(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"

    def broken_save(obj, f, *args, **kwargs):
        with open(f, "wb") as handle:
            handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, _model(), META)
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------ load_method: a method from its checkpoints

LOWPASS = LOWPASS_SECTION


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


def test_load_method_of_one_member_is_the_model_itself(checkpoints):
    folder, models = checkpoints
    method = load_method("m", {"preprocess": "none", "members": ["a"]}, [folder / "a.pt"], LOWPASS)
    x = torch.rand(5, 1, 28, 28)
    assert isinstance(method, LeNet) and not method.training
    torch.testing.assert_close(method(x), models["a"](x))


def test_load_method_of_a_committee_averages_the_members_softmax(checkpoints):
    folder, models = checkpoints
    method = load_method("c", {"preprocess": "none", "members": ["a", "b"]}, [folder / "a.pt", folder / "b.pt"], LOWPASS)
    assert isinstance(method, Committee)
    x = torch.rand(5, 1, 28, 28)
    mean = (models["a"](x).exp() + models["b"](x).exp()) / 2
    torch.testing.assert_close(method(x), mean.log())


def test_load_method_stacks_the_filter_unless_oblivious(checkpoints):
    folder, _ = checkpoints
    spec = {"preprocess": "lowpass5", "members": ["a"]}
    stacked = load_method("f", spec, [folder / "a.pt"], LOWPASS)
    assert isinstance(stacked, Stacked) and isinstance(stacked.preprocess, LowPassFilter)
    assert (stacked.preprocess.size, stacked.preprocess.variance, stacked.preprocess.noise_sigma) == (5, 1.3, 0.1)
    assert isinstance(load_method("f", spec, [folder / "a.pt"], LOWPASS, threat="oblivious"), LeNet)


def test_load_method_reads_the_dae_checkpoint(checkpoints):
    folder, _ = checkpoints
    method = load_method("d", {"preprocess": "dae", "members": ["a"]}, [folder / "a.pt"], LOWPASS, dae_checkpoint=folder / "dae.pt")
    assert isinstance(method.preprocess, DenoisingAutoencoder) and not method.preprocess.training
    dae, _ = load_model(folder / "dae.pt")
    for key, tensor in dae.state_dict().items():
        assert torch.equal(method.preprocess.state_dict()[key], tensor), key
    x = torch.rand(2, 1, 28, 28, requires_grad=True)
    method(x).sum().backward()
    assert x.grad.abs().sum() > 0


def test_method_inputs_load_the_method_under_its_threat_and_for_its_attacker(checkpoints):
    folder, models = checkpoints
    spec = {"preprocess": "lowpass5", "members": ["a", "b"], "attack_loss": "mean_member_loss"}
    method = MethodInputs("c", spec, (str(folder / "a.pt"), str(folder / "b.pt")), LOWPASS)
    scored, attacked = method.load(), method.load(attacker=True)
    assert isinstance(scored.classifier, Committee) and isinstance(attacked.classifier, MeanMemberLoss)
    assert isinstance(method.load(threat="oblivious"), Committee)
    assert isinstance(method.load(threat="oblivious", attacker=True), MeanMemberLoss)
    x = torch.rand(3, 1, 28, 28)
    torch.testing.assert_close(scored(x), load_method("c", spec, method.members, LOWPASS)(x))
    with_dae = MethodInputs("d", {"preprocess": "dae", "members": ["a"]}, (str(folder / "a.pt"),), LOWPASS, str(folder / "dae.pt"))
    assert isinstance(with_dae.load().preprocess, DenoisingAutoencoder)


def test_load_method_errors_name_the_checkpoint(checkpoints):
    folder, _ = checkpoints
    with pytest.raises(CheckpointError, match="not the DAE") as error:
        load_method("d", {"preprocess": "dae", "members": ["a"]}, [folder / "a.pt"], LOWPASS, dae_checkpoint=folder / "a.pt")
    assert str(folder / "a.pt") in str(error.value)
    with pytest.raises(CheckpointError, match="not a classifier") as error:
        load_method("d", {"preprocess": "none", "members": ["dae"]}, [folder / "dae.pt"], LOWPASS)
    assert str(folder / "dae.pt") in str(error.value)
    with pytest.raises(CheckpointError, match="holds model 'b', expected member 'a'") as error:
        load_method("m", {"preprocess": "none", "members": ["a"]}, [folder / "b.pt"], LOWPASS)
    assert str(folder / "b.pt") in str(error.value)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_method("m", {"preprocess": "none", "members": ["a"]}, [folder / "absent.pt"], LOWPASS)


def test_a_checkpoint_without_a_placement_loads_with_the_placement_of_its_time(tmp_path):
    """Checkpoints written before dropout_placement existed were trained after pooling."""
    path = tmp_path / "old.pt"
    all_dropout = {"input": 0.2, "conv1": 0.2, "conv2": 0.2, "full": 0.5, "output": 0.5}
    save_checkpoint(path, _model(dropout=all_dropout), {**META, "dropout": all_dropout})
    assert load_model(path)[0].placement == "after_pooling"
    save_checkpoint(path, _model(dropout=all_dropout), {**META, "dropout": all_dropout, "dropout_placement": "caffe"})
    assert load_model(path)[0].placement == "caffe"
