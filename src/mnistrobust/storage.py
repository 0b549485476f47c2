"""Files on disk: atomic output (nothing half-written is ever left under a final name)
and checked reading of the tidy CSVs the rules pass between them.

Every writer goes through :func:`atomic_path`: it hands out a temporary name in the
target's directory and renames it over the target only after the block finished
without an exception. A killed process leaves at most a ``.tmp-*`` file behind,
which no rule takes as an output and which the next write of the same target removes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

from .errors import DataError

TMP_MARK = ".tmp-"


def _stale_temporaries(target: Path) -> list[Path]:
    return list(target.parent.glob(f".{target.name}{TMP_MARK}*"))


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path; on success rename it to ``target`` atomically."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in _stale_temporaries(target):
        stale.unlink(missing_ok=True)
    # Keep the suffix so libraries that dispatch on it (h5py, matplotlib) behave.
    tmp = target.parent / f".{target.name}{TMP_MARK}{os.getpid()}{target.suffix}"
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"writer produced no file for {target}")
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(target: str | os.PathLike, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def read_csv_checked(path: str | os.PathLike, columns: Iterable[str], what: str) -> pd.DataFrame:
    """Read a CSV another rule wrote, or raise a DataError naming ``what`` and ``path``
    when it cannot be read or lacks one of ``columns``."""
    try:
        table = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{what} {path} cannot be read: {exc}") from exc
    missing = set(columns) - set(table.columns)
    if missing:
        raise DataError(f"{what} {path} lacks column(s) {sorted(missing)}")
    return table
