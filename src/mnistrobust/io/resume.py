"""What a long job has computed so far, kept so that an interrupted run resumes where it
stopped instead of from the start: tensors by key in a folder beside the job's output,
each written atomically, valid for one identity of the job's inputs and settings."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import torch

from .storage import atomic_path, write_text_atomic

IDENTITY_FILE = "IDENTITY"


def digest(*parts: object) -> str:
    """A hex key over ``parts``: tensors by their bytes, networks by their structure (repr:
    e.g. a plug-in's threat model, which changes the gradient, not the weights) and every
    parameter and buffer, files (``Path``) by their contents, anything else by its repr."""
    hasher = hashlib.sha256()
    for part in parts:
        if isinstance(part, torch.nn.Module):
            hasher.update(repr(part).encode())
            hasher.update(digest(*(item for entry in part.state_dict().items() for item in entry)).encode())
        elif isinstance(part, torch.Tensor):
            hasher.update(part.detach().cpu().contiguous().numpy().tobytes())
        elif isinstance(part, Path):
            hasher.update(part.read_bytes())
        else:
            hasher.update(repr(part).encode())
        hasher.update(b"\0")
    return hasher.hexdigest()


class ResumeFolder:
    """Tensors by key in ``folder``. ``identity`` names what the job computes from (its
    inputs' contents and its settings); a folder left by another identity is emptied."""

    def __init__(self, folder: str | os.PathLike, identity: str):
        self.folder = Path(folder)
        marker = self.folder / IDENTITY_FILE
        if self.folder.exists() and (not marker.exists() or marker.read_text() != identity):
            shutil.rmtree(self.folder)
        if not marker.exists():
            write_text_atomic(marker, identity)

    @staticmethod
    def key(*parts: object) -> str:
        """The key of what ``parts`` made (see :func:`digest`); a key may be one of the parts."""
        return digest(*parts)

    def get(self, key: str) -> torch.Tensor | None:
        """The tensor stored under ``key``, or None."""
        path = self.folder / f"{key}.pt"
        return torch.load(path, weights_only=True) if path.exists() else None

    def put(self, key: str, tensor: torch.Tensor) -> None:
        with atomic_path(self.folder / f"{key}.pt") as tmp:
            torch.save(tensor.detach().cpu(), tmp)

    def remove(self) -> None:
        """Once the job's output is written, nothing is left to resume."""
        shutil.rmtree(self.folder, ignore_errors=True)
