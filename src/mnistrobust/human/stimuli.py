"""Stimulus sets of the human study (Section 4.2): 205 images per set, stored in one HDF5 file.

A set holds ``natural_images`` clean MNIST test digits, ``images_per_level`` digits per
Gaussian sigma and per gradient-sign eps (the baseline's sign map), and one USPS digit per
class, resized into the MNIST frame; shuffled. Every set of a file is drawn from the file's
seed: set ``k`` of group ``subjects`` is what subject ``k`` sees, set ``k`` of group
``lenets`` what LeNet ``k`` answers. In ``shared`` mode every set holds the same images (the
paper's future work), only the order differs.

Images are stored as the uint8 pixels that are shown, and the measured dist (Eq. 2) of each
image is taken on those pixels, so humans and LeNets see, and are scored on, the same thing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from .. import attacks
from ..data import MNIST_SIDE, NUM_CLASSES
from ..errors import ConfigError, DataError
from ..io.hdf5 import StimulusSets
from ..progress import Log


NATURAL, GAUSSIAN, FGSM, USPS = "natural", "gaussian", "fgsm", "usps"
NOISE_TYPES = (NATURAL, GAUSSIAN, FGSM, USPS)
GROUPS = ("subjects", "lenets")
MODES = ("per_subject", "shared")
# Independent random streams of one seed: each group's sets, and the one draw of shared mode.
_STREAM = {"subjects": 0, "lenets": 1, "shared": 2}
_DESIGN_NOISE_SEED = 12345  # the full-test-set dist of a level is a property of the level, not of a draw


def subject_ids(count: int) -> list[str]:
    """``s01``, ``s02``, ...: what the experimenter hands each subject (no personal data)."""
    width = max(2, len(str(count)))
    return [f"s{number:0{width}d}" for number in range(1, count + 1)]


def set_size(settings: Mapping) -> int:
    levels = len(settings["gaussian_sigmas"]) + len(settings["fgsm_eps"])
    return settings["natural_images"] + levels * settings["images_per_level"] + NUM_CLASSES * settings["usps_per_digit"]


def resize_usps(images: torch.Tensor, digit_size: int) -> torch.Tensor:
    """16x16 USPS digits scaled to ``digit_size`` and centred in the 28x28 MNIST frame
    (MNIST digits fill a 20x20 box; 28 fills the whole frame)."""
    if not 1 <= digit_size <= MNIST_SIDE:
        raise ConfigError(f"usps_digit_size must be in 1..{MNIST_SIDE}, got {digit_size}")
    scaled = F.interpolate(images, size=(digit_size, digit_size), mode="bilinear", antialias=True, align_corners=False)
    before = (MNIST_SIDE - digit_size) // 2
    after = MNIST_SIDE - digit_size - before
    return F.pad(scaled, (before, after, before, after)).clamp(0.0, 1.0)


def to_pixels(images: torch.Tensor) -> np.ndarray:
    """[0, 1] floats -> the uint8 pixels that are stored and shown."""
    return torch.round(images.squeeze(1) * 255).to(torch.uint8).numpy()


# ---------------------------------------------------------------- drawing the sets


@dataclass(frozen=True)
class StimulusPools:
    """What the sets are drawn from: MNIST test digits with the baseline's sign map over
    them, and USPS digits already placed in the MNIST frame."""

    mnist: torch.Tensor
    mnist_labels: torch.Tensor
    sign: torch.Tensor
    usps: torch.Tensor
    usps_labels: torch.Tensor
    sign_model: str

    @classmethod
    def prepare(
        cls,
        mnist: torch.Tensor,
        mnist_labels: torch.Tensor,
        sign: torch.Tensor,
        sign_model: str,
        usps: torch.Tensor,
        usps_labels: torch.Tensor,
        settings: Mapping,
    ) -> StimulusPools:
        """Pools for ``settings``: the sign map cut to the MNIST images, USPS resized; checks
        that one set's distinct images are available."""
        if len(sign) < len(mnist):
            raise DataError(f"the sign map covers {len(sign)} test images, the stimuli draw from {len(mnist)}")
        pools = cls(
            mnist, mnist_labels, sign[: len(mnist)], resize_usps(usps, settings["usps_digit_size"]), usps_labels, sign_model
        )
        _check_pool_sizes(pools, settings)
        return pools


@dataclass(frozen=True)
class DrawnSets:
    """The columns of a stimulus file (S x N each), its level table and attributes."""

    set_ids: list[str]
    stacked: dict[str, np.ndarray]
    levels: list[dict]
    attrs: dict


def stimulus_set_ids(group: str, sets: int | Sequence[str], settings: Mapping) -> list[str]:
    """The checked names of the sets: LeNet model names as given, or a count of subjects
    who get ids s01, s02, ..."""
    if group not in GROUPS:
        raise ConfigError(f"unknown stimulus group {group!r}; known: {list(GROUPS)}")
    set_ids = subject_ids(sets) if isinstance(sets, int) else list(sets)
    if len(set(set_ids)) != len(set_ids):
        raise ConfigError(f"stimulus set names repeat: {set_ids}")
    _check_settings(settings, len(set_ids))
    return set_ids


def draw_stimulus_sets(
    pools: StimulusPools, group: str, set_ids: Sequence[str], settings: Mapping, log: Log = print
) -> DrawnSets:
    """One set per subject or LeNet of ``group``, each drawn and shuffled from the settings' seed."""
    seed = settings["seed"]
    shared = settings["mode"] == "shared"
    drawn = []
    for index, _set_id in enumerate(set_ids):
        order_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_STREAM[group], index)))
        draw_stream = (_STREAM["shared"], 0) if shared else (_STREAM[group], index)
        draw_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=draw_stream))
        one_set = _draw_set(pools, settings, draw_rng)
        drawn.append(_shuffled(one_set, order_rng))
    stacked = {key: np.stack([one[key] for one in drawn]) for key in drawn[0]}
    levels = _level_table(pools, settings, stacked)
    for row in levels:
        log(
            f"{group}: {row['noise']} level {row['level']:g}: design dist {row['design_dist']:.4f}, "
            f"measured over the file {row['measured_dist']:.4f}"
        )
    attrs = {
        "group": group,
        "mode": settings["mode"],
        "seed": seed,
        "settings": json.dumps(dict(settings), sort_keys=True),
        "sign_map_model": pools.sign_model,
        "test_images": len(pools.mnist),
        "digest": _digest(stacked),
    }
    return DrawnSets(list(set_ids), stacked, levels, attrs)


def _check_settings(settings: Mapping, sets: int) -> None:
    if settings["mode"] not in MODES:
        raise ConfigError(f"human.mode must be one of {list(MODES)}, got {settings['mode']!r}")
    if sets < 1:
        raise ConfigError("a stimulus file needs at least one set")
    for key in ("gaussian_sigmas", "fgsm_eps"):
        values = list(settings[key])
        if not values or sorted(set(values)) != values or min(values) <= 0:
            raise ConfigError(f"human.{key} must be positive and strictly increasing, got {values}")


def _check_pool_sizes(pools: StimulusPools, settings: Mapping) -> None:
    needed = set_size(settings) - NUM_CLASSES * settings["usps_per_digit"]
    if needed > len(pools.mnist):
        raise ConfigError(
            f"a stimulus set needs {needed} distinct MNIST test images, "
            f"only {len(pools.mnist)} are used (data.test_images)"
        )
    for digit in range(NUM_CLASSES):
        available = int((pools.usps_labels == digit).sum())
        if available < settings["usps_per_digit"]:
            raise DataError(
                f"USPS has {available} test images of digit {digit}, {settings['usps_per_digit']} needed per set"
            )


def _draw_set(pools: StimulusPools, settings: Mapping, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One set in draw order: natural, Gaussian levels, gradient-sign levels, USPS.
    MNIST images are distinct within a set, so nobody sees one digit twice."""
    per_level = settings["images_per_level"]
    blocks = [(NATURAL, 0.0, settings["natural_images"])]
    blocks += [(GAUSSIAN, float(sigma), per_level) for sigma in settings["gaussian_sigmas"]]
    blocks += [(FGSM, float(eps), per_level) for eps in settings["fgsm_eps"]]
    chosen = rng.choice(len(pools.mnist), size=sum(count for *_, count in blocks), replace=False)
    noise_generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    parts, start = [], 0
    for noise, level, count in blocks:
        index = torch.from_numpy(chosen[start : start + count])
        start += count
        clean = pools.mnist[index]
        if noise == GAUSSIAN:
            shown = attacks.GaussianNoise.perturb(clean, level, noise_generator)
        elif noise == FGSM:
            shown = attacks.FGSM.perturb(clean, pools.sign[index], level)
        else:
            shown = clean
        pixels = to_pixels(shown)
        dist = _pixel_dist(pixels, to_pixels(clean), axis=(1, 2))
        parts.append(_block(pixels, pools.mnist_labels[index].numpy(), noise, level, dist, index.numpy()))
    usps_index = np.concatenate(
        [
            rng.choice(
                np.flatnonzero(pools.usps_labels.numpy() == digit), size=settings["usps_per_digit"], replace=False
            )
            for digit in range(NUM_CLASSES)
        ]
    )
    nan = np.full(len(usps_index), np.nan)
    usps_index_t = torch.from_numpy(usps_index)
    parts.append(
        _block(
            to_pixels(pools.usps[usps_index_t]), pools.usps_labels[usps_index_t].numpy(), USPS, np.nan, nan, usps_index
        )
    )
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def _pixel_dist(shown: np.ndarray, clean: np.ndarray, axis) -> np.ndarray:
    """Eq. 2 on stored pixels: mean absolute change in [0, 1] units."""
    return np.abs(shown.astype(np.int16) - clean.astype(np.int16)).mean(axis=axis) / 255.0


def _block(pixels, labels, noise: str, level: float, dist, source_index) -> dict[str, np.ndarray]:
    count = len(pixels)
    return {
        "images": pixels,
        "labels": labels.astype(np.int64),
        "noise": np.full(count, noise, dtype=object),
        "level": np.full(count, level, dtype=np.float64),
        "dist": np.asarray(dist, dtype=np.float64),
        "source_index": np.asarray(source_index, dtype=np.int64),
    }


def _shuffled(one_set: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    order = rng.permutation(len(one_set["labels"]))
    return {key: column[order] for key, column in one_set.items()}


def _level_table(pools: StimulusPools, settings: Mapping, stacked: dict[str, np.ndarray]) -> list[dict]:
    """Per noise level: the dist the level makes over the whole test pool (its design) and
    the mean dist of this file's images at that level (what was measured)."""
    rows = [{"noise": NATURAL, "level": 0.0, "design_dist": 0.0}]
    clean_pixels = to_pixels(pools.mnist)
    for noise, key in ((GAUSSIAN, "gaussian_sigmas"), (FGSM, "fgsm_eps")):
        for level in settings[key]:
            if noise == GAUSSIAN:
                shown = attacks.GaussianNoise.perturb(pools.mnist, level, torch.Generator().manual_seed(_DESIGN_NOISE_SEED))
            else:
                shown = attacks.FGSM.perturb(pools.mnist, pools.sign, level)
            design = _pixel_dist(to_pixels(shown), clean_pixels, axis=None)
            rows.append({"noise": noise, "level": float(level), "design_dist": float(design)})
    for row in rows:
        at_level = (stacked["noise"] == row["noise"]) & np.isclose(stacked["level"], row["level"])
        row["measured_dist"] = float(stacked["dist"][at_level].mean())
        row["images"] = int(at_level.sum())
    return rows


def _digest(stacked: dict[str, np.ndarray]) -> str:
    """Fingerprint of what was shown: responses recorded against one file never meet another."""
    digest = hashlib.sha256()
    for key in ("images", "labels", "level", "source_index"):
        digest.update(np.ascontiguousarray(stacked[key]).tobytes())
    digest.update("\n".join(stacked["noise"].ravel()).encode())
    return digest.hexdigest()


def images_as_tensor(sets: StimulusSets, set_index: int) -> torch.Tensor:
    """One set as the N x 1 x 28 x 28 floats a LeNet classifies: exactly the shown pixels."""
    return torch.from_numpy(sets.images[set_index]).unsqueeze(1).float().div_(255.0)
