"""Tests for mnistrobust.training.fast_at: fast adversarial training (FGSM with a random
start, or N-FGSM) on real MNIST against plain training, the catastrophic-overfitting
guard, the examples, the learning-rate schedule and the settings' checks."""

from __future__ import annotations

import pytest
import torch

from mnistrobust.attacks import PGD
from mnistrobust.attacks.core import input_gradient, project, random_start
from mnistrobust.config import PGDSettings
from mnistrobust.data import load_split
from mnistrobust.errors import ConfigError
from mnistrobust.jobs.training import initialised_model
from mnistrobust.training import fast_at
from mnistrobust.training.fast_at import FastATSettings, cyclic_learning_rate, fast_adversarial_training, fast_examples, keep_or_stop

from model_support import quiet, random_set, seeded_generator, seeded_lenet

EPS = 0.1
# 3 epochs of 2,000 images: measured held-out PGD accuracy at eps 0.1 (seeds 1-3) was
# 71-72% for FGSM-RS, 73-77% for N-FGSM and 74-75% for 3 steps (attack_steps 3), against
# 34-38% for the same loop unperturbed.
SMALL_RUN = {"eps": EPS, "epochs": 3, "guard_images": 200, "seed": 1}
MARGIN = 0.2


@pytest.fixture(scope="module")
def mnist_train_and_test(mnist_h5_file):
    train_x, train_y = load_split(mnist_h5_file, "train", limit=2000)
    test_x, test_y = load_split(mnist_h5_file, "test", limit=500)
    return train_x, train_y, test_x, test_y


def _pgd_accuracy(model, x, y, eps):
    """Held-out accuracy under 20-step PGD, a stronger attack than the guard's (other starts, more steps)."""
    return 1.0 - PGD(PGDSettings(steps=20, restarts=1), seed=0).white_box_outcome(model, x, y, [eps]).error()[0]


@pytest.fixture(scope="module")
def plain_pgd_accuracy(mnist_train_and_test):
    """The same LeNet, loop, optimizer, schedule and batches with neither noise nor step:
    plain training, so that the comparison isolates the perturbation."""
    train_x, train_y, test_x, test_y = mnist_train_and_test
    settings = FastATSettings(**SMALL_RUN, step_ratio=0.0, noise_ratio=0.0)
    plain = fast_adversarial_training(initialised_model("lenet", None, 1), train_x, train_y, settings, log=quiet)
    return _pgd_accuracy(plain.model, test_x, test_y, EPS)


# ------------------------------------------------------------------ training on real MNIST


@pytest.mark.parametrize("method, attack_steps", [("fgsm_rs", 1), ("n_fgsm", 1), ("fgsm_rs", 3)])
def test_fast_adversarial_training_beats_plain_training_under_pgd(mnist_train_and_test, plain_pgd_accuracy, method, attack_steps):
    train_x, train_y, test_x, test_y = mnist_train_and_test
    lines = []
    settings = FastATSettings(**SMALL_RUN, method=method, attack_steps=attack_steps)
    result = fast_adversarial_training(initialised_model("lenet", None, 1), train_x, train_y, settings, log=lines.append)

    assert _pgd_accuracy(result.model, test_x, test_y, EPS) >= plain_pgd_accuracy + MARGIN
    assert not result.model.training and not result.collapsed
    assert [entry["epoch"] for entry in result.history] == [1, 2, 3]
    assert result.history[-1]["lr"] == 0.0  # the cyclic schedule ends at zero
    assert result.history[result.kept_epoch - 1]["guard_pgd_acc"] == max(entry["guard_pgd_acc"] for entry in result.history)
    assert any("epoch 3/3: guard PGD accuracy" in line for line in lines)


# ------------------------------------------------------------------ the guard


def test_keep_or_stop_keeps_the_best_epoch_and_stops_on_a_collapse():
    assert keep_or_stop([0.5, 0.8, 0.7], 0.5) == (2, False)
    assert keep_or_stop([0.5, 0.8, 0.39], 0.5) == (2, True)
    assert keep_or_stop([0.5, 0.8, 0.4], 0.5) == (2, False)  # exactly half is no collapse yet
    assert keep_or_stop([0.6, 0.6], 0.5) == (2, False)  # ties go to the epoch that trained longer
    assert keep_or_stop([0.0, 0.0], 0.5) == (2, False)  # nothing to collapse from
    assert keep_or_stop([0.9, 0.01], 0.0) == (1, False)  # a fraction of 0 never stops


def test_a_collapse_stops_training_and_restores_the_best_epoch(mnist_train_and_test, monkeypatch):
    """Guard accuracies scripted to collapse at epoch 3: training stops there, with epoch 2's weights."""
    train_x, train_y, _, _ = mnist_train_and_test
    settings = FastATSettings(eps=EPS, epochs=4, guard_images=100, seed=3)
    snapshots = []

    def run():
        scripted = iter([0.5, 0.8, 0.2, 0.9])  # epoch 4's 0.9 is never reached

        def scripted_guard(model, *_):
            snapshots.append({name: value.clone() for name, value in model.state_dict().items()})
            return next(scripted)

        monkeypatch.setattr(fast_at, "guard_accuracy", scripted_guard)
        return fast_adversarial_training(initialised_model("lenet", None, 1), train_x[:300], train_y[:300], settings, log=quiet)

    result = run()
    run()

    assert (result.kept_epoch, result.collapsed) == (2, True)
    assert [entry["guard_pgd_acc"] for entry in result.history] == [0.5, 0.8, 0.2]
    kept = result.model.state_dict()
    assert all(torch.equal(kept[name], snapshots[1][name]) for name in kept)
    assert not torch.equal(kept["ip2.weight"], snapshots[2]["ip2.weight"])
    # The same seed, the same training: the second run saw the same weights at every epoch.
    assert all(torch.equal(snapshots[k][name], snapshots[3 + k][name]) for k in range(3) for name in kept)


# ------------------------------------------------------------------ examples and schedule


def test_fgsm_rs_stays_in_the_eps_ball_and_n_fgsm_goes_beyond_it():
    model = seeded_lenet(0)
    x, y = random_set(16)
    rs = fast_examples(model, x, y, FastATSettings(eps=0.1), seeded_generator(0))
    assert (rs - x).abs().max() <= 0.1 + 1e-6 and rs.min() >= 0 and rs.max() <= 1
    assert torch.equal(rs, fast_examples(model, x, y, FastATSettings(eps=0.1), seeded_generator(0)))

    n_fgsm = fast_examples(model, x, y, FastATSettings(eps=0.1, method="n_fgsm"), seeded_generator(0))
    change = (n_fgsm - x).abs()
    # Noise up to 2 eps plus a step of eps, never projected back: only [0, 1] bounds it.
    assert change.max() > 0.2 and change.max() <= 0.3 + 1e-6 and n_fgsm.min() >= 0 and n_fgsm.max() <= 1


def test_more_attack_steps_stay_in_the_eps_ball_and_raise_the_loss():
    model = seeded_lenet(0).eval()
    x, y = random_set(64)
    one = FastATSettings(eps=0.1, step_ratio=0.5)
    # One step is FGSM from the random start: the same example as a single update by hand.
    start = random_start(x, 0.1, seeded_generator(0))
    grad, _ = input_gradient(model, start, y, channels_last=True)
    assert torch.equal(fast_examples(model, x, y, one, seeded_generator(0)), project(start + 0.05 * grad.sign(), x, 0.1))

    five = fast_examples(model, x, y, FastATSettings(eps=0.1, step_ratio=0.5, attack_steps=5), seeded_generator(0))
    assert (five - x).abs().max() <= 0.1 + 1e-6 and five.min() >= 0 and five.max() <= 1
    loss = lambda examples: torch.nn.functional.nll_loss(model(examples), y).item()  # noqa: E731
    assert loss(five) > loss(fast_examples(model, x, y, one, seeded_generator(0)))


def test_method_defaults_follow_the_papers():
    assert FastATSettings().step == pytest.approx(0.375) and FastATSettings().noise == pytest.approx(0.3)
    n_fgsm = FastATSettings(method="n_fgsm")
    assert n_fgsm.step == pytest.approx(0.3) and n_fgsm.noise == pytest.approx(0.6)


def test_cyclic_learning_rate_rises_to_its_peak_at_two_fifths_and_falls_to_zero():
    rates = [cyclic_learning_rate(fraction, 5e-3) for fraction in (0.0, 0.2, 0.4, 0.7, 1.0)]
    assert rates == pytest.approx([0.0, 2.5e-3, 5e-3, 2.5e-3, 0.0])


# ------------------------------------------------------------------ settings


def test_n_fgsm_takes_a_single_step():
    with pytest.raises(ConfigError, match="fast_at attack_steps must be 1 with n_fgsm"):
        FastATSettings(method="n_fgsm", attack_steps=2)
