"""What MNIST and USPS are: their files and checksums, sizes, and the parsers of the IDX
and (bzip2-compressed libsvm) USPS formats into uint8 images and labels. Every parser
names the file it rejects."""

from __future__ import annotations

import bz2
import struct

import numpy as np

from ..errors import DataError

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

# MD5 of the compressed file, as torchvision and the README publish it.
USPS_FILE = "usps.t.bz2"
USPS_MD5 = "8ea070ee2aca1ac39742fdd1ef5ed118"
USPS_COUNT = 2007
USPS_SIDE = 16


def parse_mnist(files: dict[str, bytes]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {split: _parse_mnist_split(split, files) for split in SPLITS}


def _parse_mnist_split(split: str, files: dict[str, bytes]) -> tuple[np.ndarray, np.ndarray]:
    images_name, labels_name = MNIST_SPLIT_FILES[split]
    images = parse_idx_images(images_name, files[images_name])
    labels = _parse_idx_labels(labels_name, files[labels_name])
    expected = MNIST_COUNTS[split]
    if len(images) != expected or len(labels) != expected:
        raise DataError(
            f"{images_name}/{labels_name}: {len(images)} images and {len(labels)} labels, " f"expected {expected} each"
        )
    return images, labels


def parse_idx_images(name: str, payload: bytes) -> np.ndarray:
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


def parse_usps_file(files: dict[str, bytes]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
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


def _bunzip(payload: bytes, origin: str) -> bytes:
    try:
        return bz2.decompress(payload)
    except (OSError, EOFError, ValueError) as exc:
        raise DataError(f"{origin}: not a valid bzip2 file ({exc})") from exc
