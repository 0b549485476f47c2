"""Files on disk: atomic output (nothing half-written is ever left under a final name)
and checked reading of the CSV and HDF5 files the rules pass between them.

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

import h5py
import numpy as np
import pandas as pd

from ..errors import DataError

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


def read_hdf5(
    path: str | os.PathLike, datasets: Iterable[str], what: str, hint: str = "", file_format: str | None = None
) -> tuple[dict, dict]:
    """Read whole ``datasets`` and the root attributes of an HDF5 file another rule wrote.

    Raises a DataError naming ``what`` and ``path`` when the file is missing (``hint``
    says how to make it), unreadable, of another ``file_format`` (its ``format``
    attribute), or lacks one of the datasets.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} {path} does not exist{f' ({hint})' if hint else ''}")
    try:
        with h5py.File(path, "r") as handle:
            attrs = dict(handle.attrs)
            if file_format is not None and attrs.get("format") != file_format:
                raise DataError(f"{path} is not an {file_format} file, so it cannot be a {what}")
            return {name: handle[name][()] for name in datasets}, attrs
    except (OSError, KeyError) as exc:  # h5py: OSError when corrupt or truncated, KeyError when a dataset is missing
        raise DataError(f"{what} {path} is corrupt or incomplete: {exc}") from exc


def check_attrs(path: str | os.PathLike, what: str, attrs: dict, expect: dict) -> None:
    """Raise a DataError when an attribute of ``path`` differs from the expected value
    (floats compared with a relative tolerance, so 0.1 read back from HDF5 matches)."""
    for key, wanted in expect.items():
        found = attrs.get(key)
        found = found.item() if isinstance(found, np.generic) else found
        if isinstance(found, np.ndarray):
            found = found.tolist()
        if isinstance(wanted, float) and isinstance(found, (int, float)):
            same = bool(np.isclose(found, wanted))
        elif isinstance(wanted, (list, tuple)) and isinstance(found, list) and len(found) == len(wanted):
            same = all(np.isclose(a, b) if isinstance(b, float) else a == b for a, b in zip(found, wanted))
        else:
            same = found == wanted
        if not same:
            raise DataError(f"{what} {path} was made with {key}={found!r}, expected {wanted!r}")


def save_figure(figure, path: str | os.PathLike) -> None:
    """Write a matplotlib figure atomically (150 dpi, tight box) and close it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=150, bbox_inches="tight")
    plt.close(figure)


def write_csv(table: pd.DataFrame, target: str | os.PathLike, float_format: str | None = None) -> None:
    """A table as CSV, atomically, without the index."""
    with atomic_path(target) as tmp:
        table.to_csv(tmp, index=False, float_format=float_format)
