"""Every HDF5 layout the rules pass between them, beside the MNIST file (data/acquire.py):
gradient-sign maps, adversarial pools, transfer examples and the human study's stimulus
sets. Written atomically; checked on reading against the attributes that say what they
were made from, so a file made with other settings is an error, not a result."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np
import torch

from ..data import MNIST_SIDE
from ..errors import DataError
from .storage import atomic_path, check_attrs, read_hdf5

POOL_FORMAT = "mnistrobust-adversarial-pool/1"
STIMULUS_FORMAT = "mnistrobust-human-stimuli/1"


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


@dataclass(frozen=True)
class StimulusSets:
    """What a stimulus file holds; arrays are indexed [set, image id] (image id = presentation position)."""

    set_ids: list[str]
    images: np.ndarray  # uint8 S x N x 28 x 28
    labels: np.ndarray  # int64 S x N
    noise: np.ndarray  # str S x N: natural, gaussian, fgsm or usps
    level: np.ndarray  # float S x N: sigma or eps; 0 for natural, NaN for USPS
    dist: np.ndarray  # float S x N: measured Eq. 2 dist of the image; NaN for USPS (no clean original)
    levels: list[dict]  # per (noise, level): design_dist over the test set, measured_dist over this file
    attrs: dict

    @property
    def digest(self) -> str:
        return self.attrs["digest"]

    @property
    def images_per_set(self) -> int:
        return self.images.shape[1]

    def set_index(self, set_id: str) -> int:
        return self.set_ids.index(set_id)


def save_stimuli(
    path: str | os.PathLike, set_ids: list[str], stacked: dict, levels: list[dict], attrs: dict[str, Any]
) -> None:
    """``stacked`` holds the S x N columns images, labels, noise, level, dist and source_index."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as handle:
        handle.create_dataset("images", data=stacked["images"], compression="lzf")
        handle.create_dataset("labels", data=stacked["labels"].astype(np.uint8))
        handle.create_dataset("noise", data=stacked["noise"].astype("S8"))
        handle.create_dataset("level", data=stacked["level"])
        handle.create_dataset("dist", data=stacked["dist"])
        handle.create_dataset("source_index", data=stacked["source_index"])
        handle.create_dataset("set_ids", data=np.array(set_ids, dtype="S"))
        handle.create_dataset("levels", data=json.dumps(levels))
        handle.attrs.update({"format": STIMULUS_FORMAT, **attrs})


def load_stimuli(path: str | os.PathLike) -> StimulusSets:
    names = ["set_ids", "images", "labels", "noise", "level", "dist", "levels"]
    arrays, attrs = read_hdf5(
        path, names, "stimulus file", hint="build it with the human_stimuli rule", file_format=STIMULUS_FORMAT
    )
    try:
        sets = StimulusSets(
            set_ids=[name.decode() for name in arrays["set_ids"]],
            images=arrays["images"],
            labels=arrays["labels"].astype(np.int64),
            noise=np.char.decode(arrays["noise"]).astype(object),
            level=arrays["level"],
            dist=arrays["dist"],
            levels=json.loads(arrays["levels"]),
            attrs=attrs,
        )
    except (AttributeError, ValueError) as exc:  # wrong dtypes or a levels field that is not JSON
        raise DataError(f"stimulus file {path} is corrupt or incomplete: {exc}") from exc
    if (
        sets.images.ndim != 4
        or sets.images.shape[0] != len(sets.set_ids)
        or sets.images.shape[2:] != (MNIST_SIDE, MNIST_SIDE)
    ):
        raise DataError(
            f"stimulus file {path}: images of shape {sets.images.shape} do not match {len(sets.set_ids)} sets of 28x28"
        )
    return sets
