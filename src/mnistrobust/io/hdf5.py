"""Every HDF5 layout the rules pass between them, beside the MNIST file (data.py) and the
human study's stimulus file (human/stimuli.py): gradient-sign maps, adversarial pools and
transfer examples. Written atomically; checked on reading against the attributes that say
what they were made from, so a file made with other settings is an error, not a result."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import h5py
import numpy as np
import torch

from ..errors import DataError
from .storage import atomic_path, check_attrs, read_hdf5

POOL_FORMAT = "mnistrobust-adversarial-pool/1"


def save_sign_map(path: str | os.PathLike, sign: torch.Tensor, attrs: dict[str, Any]) -> None:
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as handle:
        chunks = (min(1000, len(sign)), *sign.shape[1:])
        handle.create_dataset("sign", data=sign.numpy().astype(np.int8), compression="lzf", chunks=chunks)
        handle.attrs.update({key: value for key, value in attrs.items() if value is not None})


def load_sign_map(path: str | os.PathLike, expect: dict[str, Any] | None = None) -> tuple[torch.Tensor, dict]:
    """Read a sign map; ``expect`` lists attributes that must match (e.g. model, loss)."""
    arrays, attrs = read_hdf5(path, ["sign"], "sign map", hint="made by the fgsm_sign_map rule")
    check_attrs(path, "sign map", attrs, expect or {})
    sign = torch.from_numpy(arrays["sign"])
    if sign.dtype != torch.int8 or sign.ndim != 4:
        raise DataError(
            f"sign map {path} holds {sign.dtype} of shape {tuple(sign.shape)}, expected int8 N x 1 x 28 x 28"
        )
    return sign, attrs


def save_pool(path: str | os.PathLike, examples: torch.Tensor, labels: torch.Tensor, attrs: dict[str, Any]) -> None:
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as handle:
        chunks = (min(1000, len(examples)), *examples.shape[1:])
        handle.create_dataset("images", data=examples.numpy().astype(np.float32), compression="lzf", chunks=chunks)
        handle.create_dataset("labels", data=labels.numpy().astype(np.uint8))
        handle.attrs.update({"format": POOL_FORMAT, **attrs})


def load_pool(path: str | os.PathLike, expect: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Read a pool, checking that its attributes (stage, eps, c, source model, ...) are the expected ones."""
    arrays, attrs = read_hdf5(
        path, ["images", "labels"], "adversarial pool", hint="made by the adversarial_pool rule", file_format=POOL_FORMAT
    )
    check_attrs(path, "adversarial pool", attrs, expect)
    images, labels = torch.from_numpy(arrays["images"]), torch.from_numpy(arrays["labels"].astype(np.int64))
    if images.ndim != 4 or len(images) != len(labels):
        raise DataError(f"adversarial pool {path} holds images {tuple(images.shape)} and {len(labels)} labels")
    return images, labels


def save_transfer_examples(path: str | os.PathLike, examples: torch.Tensor, attrs: dict[str, Any]) -> None:
    """PGD examples of one source method, eps x images x 1 x 28 x 28."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as handle:
        chunks = (1, min(1000, examples.shape[1]), *examples.shape[2:])
        handle.create_dataset("examples", data=examples.numpy(), compression="lzf", chunks=chunks)
        handle.attrs.update(attrs)


def load_transfer_examples(path: str | os.PathLike, source: str, eps: Sequence[float], images: int) -> torch.Tensor:
    arrays, attrs = read_hdf5(path, ["examples"], "transfer examples", hint="made by the strong_transfer_examples rule")
    check_attrs(path, "transfer examples", attrs, {"source": source, "eps": [float(e) for e in eps], "images": images})
    return torch.from_numpy(arrays["examples"])
