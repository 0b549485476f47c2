"""Tests for mnistrobust.checkpoints and the atomic writer in mnistrobust.storage."""

from __future__ import annotations

import os

import pytest
import torch

from mnistrobust.checkpoints import FORMAT, load_model, read_checkpoint, save_checkpoint
from mnistrobust.errors import CheckpointError
from mnistrobust.models import LeNet
from mnistrobust.storage import TMP_MARK, atomic_path, write_text_atomic

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


# ------------------------------------------------------------------ atomic writes


def test_atomic_path_writes_target_and_no_temporaries(tmp_path):
    target = tmp_path / "out" / "result.txt"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent
        assert TMP_MARK in tmp.name
        assert tmp.suffix == ".txt"
        assert not target.exists()
        tmp.write_text("hello")
    assert target.read_text() == "hello"
    assert os.listdir(target.parent) == ["result.txt"]


def test_atomic_path_leaves_nothing_when_body_raises(tmp_path):
    target = tmp_path / "result.txt"
    with pytest.raises(ValueError, match="boom"):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise ValueError("boom")
    assert not target.exists()
    assert os.listdir(tmp_path) == []


def test_atomic_path_keeps_old_target_when_body_raises(tmp_path):
    target = tmp_path / "result.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("new")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["result.txt"]


def test_atomic_path_raises_if_nothing_written(tmp_path):
    target = tmp_path / "result.txt"
    with pytest.raises(FileNotFoundError):
        with atomic_path(target):
            pass
    assert os.listdir(tmp_path) == []


def test_atomic_path_removes_stale_temporaries(tmp_path):
    target = tmp_path / "result.txt"
    stale = tmp_path / f".result.txt{TMP_MARK}99999.txt"
    stale.write_text("left by a killed job")
    unrelated = tmp_path / "other.txt"
    unrelated.write_text("keep")
    write_text_atomic(target, "fresh")
    assert target.read_text() == "fresh"
    assert sorted(os.listdir(tmp_path)) == ["other.txt", "result.txt"]


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
