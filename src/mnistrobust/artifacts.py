"""HDF5 artefacts derived from a model (gradient-sign maps), written atomically and
checked on reading against the attributes that say what they were made from."""

from __future__ import annotations

import os
from typing import Any

import h5py
import numpy as np
import torch

from .attacks import gradient_sign
from .data import load_split
from .errors import DataError
from .methods import build_method
from .storage import atomic_path, check_attrs, read_hdf5


def save_sign_map(path: str | os.PathLike, sign: torch.Tensor, attrs: dict[str, Any]) -> None:
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as handle:
        handle.create_dataset("sign", data=sign.numpy().astype(np.int8), compression="lzf", chunks=(min(1000, len(sign)), *sign.shape[1:]))
        handle.attrs.update({key: value for key, value in attrs.items() if value is not None})


def load_sign_map(path: str | os.PathLike, expect: dict[str, Any] | None = None) -> tuple[torch.Tensor, dict]:
    """Read a sign map; ``expect`` lists attributes that must match (e.g. model, loss)."""
    arrays, attrs = read_hdf5(path, ["sign"], "sign map", hint="made by the fgsm_sign_map rule")
    check_attrs(path, "sign map", attrs, expect or {})
    sign = torch.from_numpy(arrays["sign"])
    if sign.dtype != torch.int8 or sign.ndim != 4:
        raise DataError(f"sign map {path} holds {sign.dtype} of shape {tuple(sign.shape)}, expected int8 N x 1 x 28 x 28")
    return sign, attrs


def make_sign_map(
    data_h5: str,
    method: str,
    spec: dict,
    member_checkpoints: list[str],
    lowpass: dict,
    threat: str,
    output: str,
    test_images: int,
    dae_checkpoint: str | None = None,
    log=print,
    device: torch.device | str = "cpu",
) -> None:
    """The FGSM gradient sign of a method over the test set (computed once, reused by all levels).

    ``threat`` says whose gradient: the whole method's (end_to_end) or its classifier's alone (oblivious).
    """
    network = build_method(method, spec, member_checkpoints, lowpass, dae_checkpoint, threat=threat).to(device)
    images, labels = load_split(data_h5, "test", limit=test_images)
    sign = gradient_sign(network, images.to(device), labels.to(device)).cpu()
    log(f"{threat} sign map of {method} over {len(images)} test images; {int((sign == 0).sum())} zero-gradient pixels")
    save_sign_map(
        output,
        sign,
        {"model": method, "threat": threat, "members": ",".join(spec["members"]), "loss": "nll(log_softmax)", "images": len(images)},
    )
