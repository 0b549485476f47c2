"""Stimulus sets: composition, labels, levels, measured dist, determinism, shared mode, bad config."""

from __future__ import annotations

from collections import Counter

import h5py
import numpy as np
import pytest
import torch
from human_support import PAPER_DESIGN, POOL_IMAGES, build

from mnistrobust.data import load_split, load_usps
from mnistrobust.errors import ConfigError, DataError
from mnistrobust.human.stimuli import resize_usps, subject_ids
from mnistrobust.io.hdf5 import load_stimuli


def test_each_subject_gets_the_papers_205_images(paper_stimuli):
    sets = load_stimuli(paper_stimuli)
    assert sets.set_ids == ["s01", "s02", "s03", "s04"]
    assert sets.images.shape == (4, 205, 28, 28) and sets.images.dtype == np.uint8
    for row in range(4):
        counts = Counter(zip(sets.noise[row], np.nan_to_num(sets.level[row], nan=-1.0)))
        expected = {("natural", 0.0): 15, ("usps", -1.0): 10}
        expected |= {("gaussian", sigma): 15 for sigma in PAPER_DESIGN["gaussian_sigmas"]}
        expected |= {("fgsm", eps): 15 for eps in PAPER_DESIGN["fgsm_eps"]}
        assert dict(counts) == expected
        usps = sets.noise[row] == "usps"
        assert sorted(sets.labels[row][usps]) == list(range(10))  # one USPS digit per class


def test_labels_and_pixels_match_their_source_images(paper_stimuli, human_inputs):
    sets = load_stimuli(paper_stimuli)
    with h5py.File(paper_stimuli) as h5:
        source = h5["source_index"][()]
    mnist_images, mnist_labels = load_split(human_inputs["mnist"], "test", limit=POOL_IMAGES)
    usps_images, usps_labels = load_usps(human_inputs["usps"])
    for row in range(len(sets.set_ids)):
        from_mnist = sets.noise[row] != "usps"
        assert np.array_equal(sets.labels[row][from_mnist], mnist_labels.numpy()[source[row][from_mnist]])
        assert np.array_equal(sets.labels[row][~from_mnist], usps_labels.numpy()[source[row][~from_mnist]])
        assert len(set(source[row][from_mnist])) == from_mnist.sum()  # no digit twice for one subject
        natural = np.flatnonzero(sets.noise[row] == "natural")
        clean = np.rint(mnist_images[source[row][natural], 0].numpy() * 255).astype(np.uint8)
        assert np.array_equal(sets.images[row][natural], clean)
        assert np.all(sets.dist[row][natural] == 0)
        assert np.all(np.isnan(sets.dist[row][~from_mnist]))


def test_measured_dist_is_close_to_the_levels_design_and_paired_levels_match(paper_stimuli):
    sets = load_stimuli(paper_stimuli)
    levels = {(row["noise"], row["level"]): row for row in sets.levels}
    for (noise, level), row in levels.items():
        if noise == "natural":
            continue
        at_level = (sets.noise == noise) & np.isclose(sets.level, level)
        assert at_level.sum() == 4 * 15
        assert sets.dist[at_level].mean() == pytest.approx(row["measured_dist"])
        assert row["measured_dist"] == pytest.approx(row["design_dist"], rel=0.12), (noise, level)
    # Paper: the sigma and eps lists are paired to give similar distortions (with clipping).
    for sigma, eps in zip(PAPER_DESIGN["gaussian_sigmas"], PAPER_DESIGN["fgsm_eps"]):
        assert levels[("gaussian", sigma)]["design_dist"] == pytest.approx(
            levels[("fgsm", eps)]["design_dist"], rel=0.2
        )
    gaussian = [levels[("gaussian", sigma)]["design_dist"] for sigma in PAPER_DESIGN["gaussian_sigmas"]]
    assert gaussian == sorted(gaussian) and gaussian[0] > 0.02


def test_sets_differ_per_subject_and_repeat_per_seed(paper_stimuli, human_inputs, tmp_path):
    sets = load_stimuli(paper_stimuli)
    assert not np.array_equal(sets.images[0], sets.images[1])
    again = load_stimuli(build(human_inputs, tmp_path / "again.h5"))
    assert again.digest == sets.digest and np.array_equal(again.images, sets.images)
    reseeded = load_stimuli(build(human_inputs, tmp_path / "reseeded.h5", settings={**PAPER_DESIGN, "seed": 1}))
    assert reseeded.digest != sets.digest


def test_shared_mode_gives_everyone_the_same_images_in_their_own_order(human_inputs, tmp_path):
    shared = {**PAPER_DESIGN, "mode": "shared"}
    subjects = load_stimuli(build(human_inputs, tmp_path / "subjects.h5", sets=3, settings=shared))
    lenets = load_stimuli(
        build(human_inputs, tmp_path / "lenets.h5", group="lenets", sets=["lenet", "lenet_seed2"], settings=shared)
    )

    def content(sets, row):
        return sorted(image.tobytes() for image in sets.images[row])

    reference = content(subjects, 0)
    assert all(content(subjects, row) == reference for row in range(1, 3))
    assert all(content(lenets, row) == reference for row in range(2))
    assert not np.array_equal(subjects.images[0], subjects.images[1])  # shuffled per subject
    assert lenets.set_ids == ["lenet", "lenet_seed2"] and lenets.attrs["group"] == "lenets"


def test_usps_digits_are_resized_into_the_mnist_frame():
    digit = torch.ones(1, 1, 16, 16)
    framed = resize_usps(digit, 20)
    assert framed.shape == (1, 1, 28, 28)
    assert framed[0, 0, 4:24, 4:24].min() > 0.99 and framed[0, 0, :4].max() == 0 and framed[0, 0, :, 24:].max() == 0
    with pytest.raises(ConfigError, match="usps_digit_size"):
        resize_usps(digit, 40)


def test_subject_ids_are_numbered_without_personal_data():
    assert subject_ids(3) == ["s01", "s02", "s03"]
    assert subject_ids(120)[-1] == "s120"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"natural_images": 500}, "distinct MNIST test images"),
        ({"gaussian_sigmas": [0.3, 0.1]}, "strictly increasing"),
        ({"mode": "everyone"}, "mode"),
        ({"usps_per_digit": 400}, "USPS has"),
    ],
)
def test_impossible_designs_are_refused_with_a_clear_error(human_inputs, tmp_path, change, message):
    with pytest.raises((ConfigError, DataError), match=message):
        build(human_inputs, tmp_path / "bad.h5", settings={**PAPER_DESIGN, **change})
    assert not (tmp_path / "bad.h5").exists()


def test_a_file_that_is_not_a_stimulus_file_is_refused(human_inputs, tmp_path):
    with pytest.raises(DataError, match="not an mnistrobust-human-stimuli"):
        load_stimuli(human_inputs["usps"])
    with pytest.raises(DataError, match="does not exist"):
        load_stimuli(tmp_path / "missing.h5")
