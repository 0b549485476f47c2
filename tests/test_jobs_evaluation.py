"""Tests for mnistrobust.jobs.evaluation: the sweep job from checkpoints (and a sign map,
made by jobs.attacks) to curve CSV, and the low-pass calibration job."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from mnistrobust.data import load_split
from mnistrobust.errors import ConfigError, DataError
from mnistrobust.evaluation.sweeps import noise_strengths, sweep
from mnistrobust.io.checkpoints import MethodInputs
from mnistrobust.jobs.attacks import make_sign_map
from mnistrobust.jobs.evaluation import NoiseJob, lowpass_calibration, run_sweep, run_table2_cells

from model_support import LOWPASS_SECTION, lenet_checkpoint, quiet, seeded_lenet

LOWPASS = LOWPASS_SECTION
EVALUATION = {"levels": 4, "max_strength": {"gaussian": 1.0, "fgsm": 0.6}, "min_max_dist": 0.1, "noise_seed": 0, "batch_size": 16}
SPEC = {"preprocess": "none", "members": ["lenet"]}
IMAGES = 40


@pytest.fixture
def checkpoint(tmp_path):
    """seeded_lenet(1) saved as the checkpoint of the model 'lenet'."""
    return lenet_checkpoint(tmp_path, seed=1)


def method(name, spec, checkpoint):
    return MethodInputs(name, spec, (checkpoint,), LOWPASS)


def test_gaussian_sweep_job_writes_the_curve_of_the_method(mnist_h5_file, tmp_path, checkpoint):
    output = tmp_path / "sweeps" / "lenet" / "gaussian.csv"
    curve = run_sweep(NoiseJob(method("lenet", SPEC, checkpoint), str(mnist_h5_file), "gaussian", EVALUATION, IMAGES), str(output), log=quiet)
    written = pd.read_csv(output)
    assert list(written.columns) == ["model", "noise", "level", "strength", "dist", "error"]
    assert (written["model"] == "lenet").all() and (written["noise"] == "gaussian").all()
    images, labels = load_split(mnist_h5_file, "test", limit=IMAGES)
    expected = sweep(seeded_lenet(1), images, labels, "gaussian", noise_strengths(1.0, 4), seed=0, batch_size=16, log=quiet)
    pd.testing.assert_frame_equal(curve.drop(columns=["model", "noise"]), expected)
    pd.testing.assert_frame_equal(written.drop(columns=["model", "noise"]), expected, check_exact=False, rtol=1e-5)


def test_fgsm_sweep_job_reads_the_sign_map_of_its_threat_model(mnist_h5_file, tmp_path, checkpoint):
    data = str(mnist_h5_file)
    sign_map = tmp_path / "fgsm_sign.h5"
    make_sign_map(method("lenet", SPEC, checkpoint), data, "end_to_end", str(sign_map), IMAGES, log=quiet)
    output = tmp_path / "fgsm.csv"
    curve = run_sweep(NoiseJob(method("lenet", SPEC, checkpoint), data, "fgsm", EVALUATION, IMAGES, str(sign_map)), str(output), log=quiet)
    assert curve["dist"].iloc[0] == 0 and curve["dist"].iloc[-1] > 0.1
    assert curve["error"].iloc[-1] > curve["error"].iloc[0]
    # The sign map of another threat model, or of another test set size, is refused.
    oblivious = {"preprocess": "lowpass3", "members": ["lenet"]}
    with pytest.raises(DataError, match="made with model='lenet', expected 'lowpass3_lenet'"):
        run_sweep(NoiseJob(method("lowpass3_lenet", oblivious, checkpoint), data, "fgsm_oblivious", EVALUATION, IMAGES, str(sign_map)), str(tmp_path / "o.csv"), log=quiet)
    with pytest.raises(DataError, match="made with images=40, expected 20"):
        run_sweep(NoiseJob(method("lenet", SPEC, checkpoint), data, "fgsm", EVALUATION, 20, str(sign_map)), str(tmp_path / "f.csv"), log=quiet)
    assert not (tmp_path / "o.csv").exists() and not (tmp_path / "f.csv").exists()


@pytest.mark.parametrize(
    ("name", "spec", "noise", "threat"),
    [
        ("lenet", SPEC, "fgsm", "end_to_end"),
        ("lowpass3_lenet", {"preprocess": "lowpass3", "members": ["lenet"]}, "fgsm_oblivious", "oblivious"),
    ],
)
def test_cells_without_a_sign_map_file_compute_the_same_sign_map(mnist_h5_file, tmp_path, checkpoint, name, spec, noise, threat):
    data, dists = str(mnist_h5_file), [0.0, 0.1, 0.2]
    sign_map = tmp_path / "fgsm_sign.h5"
    make_sign_map(method(name, spec, checkpoint), data, threat, str(sign_map), IMAGES, log=quiet)
    job = NoiseJob(method(name, spec, checkpoint), data, noise, EVALUATION, IMAGES)
    from_file = run_table2_cells(dataclasses.replace(job, sign_map=str(sign_map)), dists, str(tmp_path / "a.csv"), log=quiet)
    computed = run_table2_cells(job, dists, str(tmp_path / "b.csv"), log=quiet)
    pd.testing.assert_frame_equal(from_file, computed)
    assert computed["error"].iloc[-1] > computed["error"].iloc[0]
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_a_sweep_that_stays_below_min_max_dist_is_an_error_and_writes_nothing(mnist_h5_file, tmp_path, checkpoint):
    weak = {**EVALUATION, "max_strength": {"gaussian": 0.05, "fgsm": 0.6}}
    output = tmp_path / "gaussian.csv"
    with pytest.raises(ConfigError, match="below min_max_dist 0.1; raise evaluation.max_strength.gaussian"):
        run_sweep(NoiseJob(method("lenet", SPEC, checkpoint), str(mnist_h5_file), "gaussian", weak, IMAGES), str(output), log=quiet)
    assert not output.exists()


def test_lowpass_calibration_job_writes_every_filter_at_every_sigma(mnist_h5_file, tmp_path, checkpoint):
    output = tmp_path / "tables" / "lowpass_clean_error.csv"
    table = lowpass_calibration(str(mnist_h5_file), checkpoint, LOWPASS, IMAGES, str(output), log=quiet)
    written = pd.read_csv(output)
    assert len(written) == len(table) == 4
    assert list(written["filter"]) == ["lowpass3", "lowpass3", "lowpass5", "lowpass5"]
    assert written["configured"].tolist() == [False, True, False, True]
    assert written["clean_error_pct"].between(0, 100).all()
