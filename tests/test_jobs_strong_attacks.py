"""Tests for mnistrobust.jobs.strong_attacks: a transfer source's examples and one method's
strong evaluation from its MethodInputs, on a few real test digits."""

from __future__ import annotations

import pandas as pd
import pytest
import torchattacks

from mnistrobust.attacks.catalog import RESULT_COLUMNS
from mnistrobust.errors import ConfigError
from mnistrobust.io.checkpoints import MethodInputs
from mnistrobust.io.hdf5 import load_transfer_examples
from mnistrobust.jobs import strong_attacks as strong_jobs
from mnistrobust.jobs.strong_attacks import evaluate_method, make_transfer_examples, resume_folder

from model_support import LOWPASS_SECTION, STRONG_ATTACKS_SECTION, lenet_checkpoint, quiet

LOWPASS = {**LOWPASS_SECTION, "filters": LOWPASS_SECTION["filters"][:1], "noise_sigma": 0.0}
# The shared small section, cut to two eps and the three gradient attacks.
SETTINGS = {
    **STRONG_ATTACKS_SECTION,
    "test_images": 20,
    "eps": [0.1, 0.3],
    "sanity_min_error": 0.5,
    "attacks": ["fgsm", "pgd", "transfer"],
    "pgd": {"steps": 2, "restarts": 1, "relative_step_size": 2.5},
    "eot_samples": 1,
    "batch_size": 20,
}


def lenet_method(folder, name, seed):
    return MethodInputs(name, {"preprocess": "none", "members": [name]}, (lenet_checkpoint(folder, seed, name),), LOWPASS)


def test_a_method_is_scored_on_the_examples_of_a_transfer_source(mnist_h5_file, tmp_path):
    source, target = lenet_method(tmp_path, "lenet", 1), lenet_method(tmp_path, "other", 2)
    examples_path = tmp_path / "transfer" / "lenet.h5"
    examples = make_transfer_examples(source, str(mnist_h5_file), SETTINGS, str(examples_path), log=quiet)
    assert examples.shape == (3, 20, 1, 28, 28)  # the eps, then sanity_eps
    assert load_transfer_examples(examples_path, "lenet", (0.1, 0.3, 1.0), 20).shape == examples.shape
    output = tmp_path / "methods" / "other.csv"
    table = evaluate_method(target, str(mnist_h5_file), SETTINGS, str(output), {"lenet": str(examples_path)}, log=quiet)
    written = pd.read_csv(output)
    assert list(written.columns) == RESULT_COLUMNS and len(written) == len(table)
    assert {"clean", "fgsm", "pgd", "transfer_lenet"} <= set(written["attack"])
    with pytest.raises(ConfigError, match="evaluating other: no transfer examples given for source"):
        evaluate_method(target, str(mnist_h5_file), SETTINGS, str(tmp_path / "none.csv"), log=quiet)


def test_an_interrupted_evaluation_resumes_with_the_autoattack_chunks_it_had(mnist_h5_file, tmp_path, monkeypatch):
    method = lenet_method(tmp_path, "lenet", 1)
    settings = {
        **SETTINGS, "attacks": ["fgsm", "autoattack"], "test_images": 12, "batch_size": 5, "eps": [0.005, 0.01],
        "autoattack": {"version": "standard", "steps": 2, "square_queries": 5, "eot_samples": 1},
    }
    straight = evaluate_method(method, str(mnist_h5_file), settings, str(tmp_path / "straight.csv"), log=quiet)
    assert not resume_folder(str(tmp_path / "straight.csv")).exists()  # nothing left once written

    output = tmp_path / "methods" / "lenet.csv"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(strong_jobs, "write_csv", interrupted)
        with pytest.raises(KeyboardInterrupt):
            evaluate_method(method, str(mnist_h5_file), settings, str(output), log=quiet)
    assert sorted(resume_folder(str(output)).glob("*.pt")) and not output.exists()

    def no_attack(*args, **kwargs):
        raise AssertionError("a kept chunk was attacked again")

    monkeypatch.setattr(torchattacks.MultiAttack, "forward", no_attack)
    resumed = evaluate_method(method, str(mnist_h5_file), settings, str(output), log=quiet)
    pd.testing.assert_frame_equal(resumed, straight)
    assert not resume_folder(str(output)).exists()
