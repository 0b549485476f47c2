"""Saving and loading trained networks together with how they were made."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..config import LEGACY_DROPOUT_PLACEMENT, placement_matters
from ..errors import CheckpointError
from ..nets.models import build_model
from .storage import atomic_path

FORMAT = "mnistrobust-checkpoint/1"


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, meta: dict[str, Any]) -> None:
    """Write ``model``'s weights with ``meta`` (architecture, dropout, training spec, seed, metrics)."""
    for key in ("arch", "dropout", "seed"):
        if key not in meta:
            raise CheckpointError(f"checkpoint metadata for {path} lacks {key!r}")
    payload = {"format": FORMAT, "meta": meta, "state_dict": model.state_dict()}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist or is not a file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch reports garbage as any of a dozen exception types
        raise CheckpointError(f"checkpoint {path} is corrupt or not a checkpoint: {exc!r}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} is not an {FORMAT} file")
    meta, state = payload.get("meta"), payload.get("state_dict")
    if not isinstance(meta, dict) or "arch" not in meta or not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} lacks its metadata (arch) or its weights (state_dict)")
    return payload


def load_model(path: str | os.PathLike) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the network stored in ``path``; returns it in eval mode with its metadata."""
    payload = read_checkpoint(path)
    meta = payload["meta"]
    model = build_model(meta["arch"], meta.get("dropout"), recorded_placement(meta))
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {path} does not match architecture {meta['arch']!r}: {exc}") from exc
    return model.eval(), meta


def recorded_placement(meta: dict[str, Any]) -> str | None:
    """The dropout placement a checkpoint's network was trained with: the one it records, or,
    for a checkpoint written before the choice existed, the placement of that time."""
    if "dropout_placement" in meta:
        return meta["dropout_placement"]
    return LEGACY_DROPOUT_PLACEMENT if placement_matters(meta.get("dropout")) else None


def load_method(
    name: str,
    spec: dict,
    member_checkpoints: Sequence[str | os.PathLike],
    lowpass: dict,
    dae_checkpoint: str | os.PathLike | None = None,
    threat: str = "end_to_end",
    attacker: bool = False,
) -> torch.nn.Module:
    """Load a method's members (and its DAE) and build the method (``nets.methods.build_method``)."""
    from ..nets.methods import build_method

    def loaded(path):
        model, meta = load_model(path)
        return model, {**meta, "checkpoint": str(path)}  # named in build_method's errors

    members = [loaded(path) for path in member_checkpoints]
    dae = loaded(dae_checkpoint) if dae_checkpoint is not None else None
    return build_method(name, spec, members, lowpass, dae, threat, attacker)


@dataclass(frozen=True)
class MethodInputs:
    """What a configured method is built from: its name and spec (config ``methods.<name>``),
    its members' checkpoints in the order of ``spec["members"]``, the config's ``lowpass``
    settings and, for DAE preprocessing, the DAE's checkpoint."""

    name: str
    spec: dict
    members: tuple[str, ...]
    lowpass: dict
    dae: str | None = None

    def load(self, threat: str = "end_to_end", attacker: bool = False) -> torch.nn.Module:
        """The method on the CPU in eval mode: under ``threat``, the network scored
        (``end_to_end``) or the one an attacker differentiates; ``attacker``: the network
        whose gradient an attack takes (``nets.methods.build_method``)."""
        return load_method(self.name, self.spec, self.members, self.lowpass, self.dae, threat, attacker)
