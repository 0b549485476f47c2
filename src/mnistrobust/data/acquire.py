"""Acquire MNIST (and USPS) from configured sources, verify them, store them as HDF5.

A source either cannot deliver at all (not configured, offline, tool missing) and the
next one is tried, or it delivers bytes that must pass the official MD5 before anything
is parsed; a corrupted delivery stops the run instead of being papered over.
Outputs are written through :func:`atomic_path`, so a failure leaves nothing behind.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import h5py
import numpy as np

from ..errors import ChecksumError, ConfigError, DataError
from ..io.storage import atomic_path
from ..progress import Log
from .formats import MNIST_MD5, USPS_FILE, USPS_MD5, parse_mnist, parse_usps_file
from .sources import MNIST_FETCHERS, USPS_FETCHERS, PathLike, SourceUnavailable

H5_CHUNK_IMAGES = 1024  # large chunks keep whole-split reads fast


def acquire_mnist(
    output_h5: PathLike,
    sources: Sequence[str],
    local_dir: PathLike | None = None,
    log: Log = print,
) -> None:
    """Fetch MNIST from the first available source, verify, write ``output_h5``."""
    _acquire("MNIST", output_h5, sources, MNIST_FETCHERS, MNIST_MD5, parse_mnist, local_dir, log)


def acquire_usps(
    output_h5: PathLike,
    sources: Sequence[str],
    local_dir: PathLike | None = None,
    log: Log = print,
) -> None:
    """Fetch the USPS test split from the first available source, verify, write ``output_h5``."""
    _acquire("USPS", output_h5, sources, USPS_FETCHERS, {USPS_FILE: USPS_MD5}, parse_usps_file, local_dir, log)


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


# ---------------------------------------------------------------- HDF5


def _write_h5(output_h5: PathLike, splits: dict[str, tuple[np.ndarray, np.ndarray]], attrs: dict[str, str]) -> None:
    with atomic_path(output_h5) as tmp, h5py.File(tmp, "w") as h5:
        for split, (images, labels) in splits.items():
            chunks = (min(H5_CHUNK_IMAGES, len(images)), *images.shape[1:])
            h5.create_dataset(f"{split}/images", data=images, dtype=np.uint8, chunks=chunks, compression="lzf")
            h5.create_dataset(f"{split}/labels", data=labels, dtype=np.uint8)
        h5.attrs.update(attrs)
