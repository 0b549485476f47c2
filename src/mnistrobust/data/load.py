"""Images and labels of the MNIST splits (and the USPS test split) from the HDF5 files that
acquire.py writes, checked for the layout it writes."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import torch

from ..errors import ConfigError, DataError
from .formats import MNIST_SIDE, SPLITS, USPS_SIDE

PathLike = str | os.PathLike


def load_split(h5_path: PathLike, split: str, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N x 1 x 28 x 28 floats in [0, 1]) and labels (int64) of one MNIST split."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return _load_images_labels(Path(h5_path), split, MNIST_SIDE, limit)


def load_usps(h5_path: PathLike) -> tuple[torch.Tensor, torch.Tensor]:
    """USPS test images (N x 1 x 16 x 16 floats in [0, 1]) and labels (int64)."""
    return _load_images_labels(Path(h5_path), "test", USPS_SIDE, None)


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
