"""Tests for the stronger attacks (issue 6): PGD, EOT, Square, transfer, worst case, flags, bad input, the target."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from conftest import dry_run, run_snakemake, small_config_with
from mnistrobust.defenses import LowPassFilter
from mnistrobust.errors import ConfigError
from mnistrobust.iterative_attacks import (
    PGDSettings,
    SquareSettings,
    check_attack_names,
    check_eps,
    eot_input_gradient,
    fgsm_outcome,
    is_randomized,
    margin,
    pgd_examples,
    pgd_outcome,
    square_outcome,
)
from mnistrobust.models import LeNet, Stacked
from mnistrobust.robustness import StrongAttackSettings, attack_plan, check_flags, evaluate_networks

from model_support import random_set, seeded_lenet

SETTINGS = {
    "test_images": 24,
    "eps": [0.1, 0.2, 0.3],
    "sanity_eps": 1.0,
    "sanity_min_error": 0.95,
    "attacks": ["fgsm", "pgd", "eot_pgd", "transfer"],
    "pgd": {"steps": 6, "restarts": 2, "relative_step_size": 2.5},
    "square": {"queries": 30, "p_init": 0.3},
    "eot_samples": 3,
    "transfer_sources": ["lenet"],
    "flag_tolerance_pct": 1.0,
    "seed": 0,
    "batch_size": 10,
}


def _linear(seed: int = 0) -> nn.Module:
    generator = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.LogSoftmax(1))
    with torch.no_grad():
        model[1].weight.copy_(0.05 * torch.randn(10, 784, generator=generator))
        model[1].bias.zero_()
    return model.eval()


def _labelled(model, n: int = 24, seed: int = 0):
    """Random images labelled by the model itself: clean error 0, so every error is the attack's."""
    x, _ = random_set(n, seed)
    with torch.no_grad():
        return x, model(x).argmax(1)


def _naive_pgd_fooled(model, x, y, eps, steps, step):
    """Textbook PGD from the clean image, one eps at a time; fooled if any iterate is misclassified."""
    current, fooled = x.clone(), torch.zeros(len(x), dtype=torch.bool)
    for _ in range(steps):
        current.requires_grad_(True)
        log_probs = model(current)
        fooled |= log_probs.argmax(1) != y
        (grad,) = torch.autograd.grad(F.nll_loss(log_probs, y, reduction="sum"), current)
        current = torch.min(torch.max(current.detach() + step * grad.sign(), x - eps), x + eps).clamp(0, 1)
    with torch.no_grad():
        return fooled | (model(current).argmax(1) != y)


def test_batched_pgd_with_early_exit_matches_textbook_pgd_per_eps():
    model = _linear(1)
    x, y = _labelled(model, seed=1)
    settings = PGDSettings(steps=8, restarts=1, random_start=False)
    eps = [0.001, 0.003, 0.01]
    outcome = pgd_outcome(model, x, y, eps, settings, batch_size=7)  # chunks split images' eps rows
    expected = torch.stack([_naive_pgd_fooled(model, x, y, e, 8, 2.5 * e / 8) for e in eps])
    # A success at a smaller eps counts at larger ones (the example lies in the larger ball).
    assert torch.equal(outcome.fooled, expected.cummax(0).values)
    errors = outcome.error()
    assert errors == sorted(errors) and 0 < errors[0] < errors[-1] < 1
    assert all(0 < d for d in outcome.dist(784))


def test_restarts_and_random_start_never_lose_successes():
    model = _linear(1)
    x, y = _labelled(model, seed=1)
    one = pgd_outcome(model, x, y, [0.002, 0.005], PGDSettings(steps=5, restarts=1), seed=3)
    three = pgd_outcome(model, x, y, [0.002, 0.005], PGDSettings(steps=5, restarts=3), seed=3)
    assert torch.all(three.fooled >= one.fooled)  # restart 1 is the same draw, later ones only add
    assert three.fooled.sum() >= one.fooled.sum()


def test_pgd_examples_stay_in_the_ball_and_the_unit_box():
    model, (x, y) = LeNet(), random_set(8)
    model.reset_parameters(0)
    examples = pgd_examples(model.eval(), x, y, 0.1, PGDSettings(steps=4, restarts=1), torch.Generator().manual_seed(0))
    assert (examples - x).abs().max() <= 0.1 + 1e-6
    assert examples.min() >= 0 and examples.max() <= 1
    assert (examples != x).float().mean() > 0.5  # it moved
    # PGD raises the loss above the clean loss.
    with torch.no_grad():
        assert F.nll_loss(model(examples), y) > F.nll_loss(model(x), y)


def test_pgd_is_at_least_as_strong_as_fgsm_on_a_linear_model():
    model = _linear(2)
    x, y = _labelled(model, seed=2)
    eps = [0.001, 0.003, 0.01]
    fgsm = fgsm_outcome(model, x, y, eps)
    pgd = pgd_outcome(model, x, y, eps, PGDSettings(steps=10, restarts=1, random_start=False))
    assert all(p >= f for p, f in zip(pgd.error(), fgsm.error()))
    assert 0 < fgsm.error()[0] < fgsm.error()[-1] < 1


def test_eot_draws_fresh_noise_per_copy_and_is_exact_for_deterministic_models():
    model, (x, y) = _linear(), random_set(4)
    single, _ = eot_input_gradient(model, x, y, 1)
    tripled, _ = eot_input_gradient(model, x, y, 3)
    torch.testing.assert_close(tripled, 3 * single)
    noisy = Stacked(LowPassFilter(3, 1.3, noise_sigma=0.3, seed=0), LeNet()).eval()
    noisy.classifier.reset_parameters(0)
    assert is_randomized(noisy) and not is_randomized(model)
    assert not is_randomized(Stacked(LowPassFilter(3, 1.3, noise_sigma=0.0), LeNet()))
    one, _ = eot_input_gradient(noisy, x, y, 1)
    two, _ = eot_input_gradient(noisy, x, y, 2)
    # Two fresh draws: the summed gradient is not twice a single draw's.
    assert not torch.allclose(two, 2 * one, atol=1e-6)


class _BatchSizes(nn.Module):
    """Wraps a model and records the size of every batch it sees."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model, self.sizes = model, []

    def forward(self, x):
        self.sizes.append(len(x))
        return self.model(x)


def test_eot_pgd_keeps_forward_batches_within_batch_size_images():
    noisy = Stacked(LowPassFilter(3, 1.3, noise_sigma=0.3, seed=0), LeNet())
    noisy.classifier.reset_parameters(0)
    recorder = _BatchSizes(noisy).eval()
    x, y = random_set(8)
    # 8 images x 3 eps = 24 rows; with 4 EOT copies each, a 12-image batch holds 3 rows.
    pgd_outcome(recorder, x, y, [0.1, 0.2, 0.3], PGDSettings(steps=2, restarts=1), eot_samples=4, batch_size=12)
    assert max(recorder.sizes) == 12 and recorder.sizes.count(12) >= 2 * 8


def test_margin_is_negative_exactly_when_misclassified():
    log_probs = torch.log_softmax(torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 1.0, 0.0]]), 1)
    labels = torch.tensor([0, 0, 1])
    torch.testing.assert_close(margin(log_probs, labels), torch.tensor([1.0, -3.0, 0.0]))


def test_square_schedule_shrinks_the_patch_from_p_init_to_one_pixel():
    settings = SquareSettings(queries=1000, p_init=0.3)
    sides = [settings.side(q, 28) for q in range(1000)]
    assert sides[0] == 15 and sides[-1] == 1  # round(sqrt(0.3 * 784)); then halved fractions
    assert sides == sorted(sides, reverse=True)


def test_square_stays_in_the_ball_is_seeded_and_gains_with_queries():
    model = seeded_lenet(0)
    x, y = _labelled(model, n=16, seed=5)
    eps = [0.05, 0.1, 0.3]
    few = square_outcome(model, x, y, eps, SquareSettings(queries=5), seed=1, batch_size=20)
    many = square_outcome(model, x, y, eps, SquareSettings(queries=60), seed=1, batch_size=20)
    again = square_outcome(model, x, y, eps, SquareSettings(queries=60), seed=1, batch_size=20)
    assert torch.equal(many.fooled, again.fooled) and torch.equal(many.abs_change, again.abs_change)
    # Every example lies in its eps ball: its mean absolute change is at most eps per pixel.
    assert all(0 < d <= e + 1e-9 for d, e in zip(many.dist(784), eps))
    assert torch.equal(many.fooled, many.fooled.cummax(0).values)  # success carries to larger eps
    assert sum(many.error()) > sum(few.error()) and many.error()[-1] > 0.5


class _Binarize(nn.Module):
    """Rounds pixels to 0 or 1: its gradient is zero everywhere, the textbook masked gradient."""

    def forward(self, x):
        return torch.round(x)


def test_square_sees_through_masked_gradients_and_the_flag_says_so():
    masked = nn.Sequential(_Binarize(), _linear(6)).eval()
    x, y = _labelled(masked, n=24, seed=6)
    x = 0.5 + (x - 0.5) * 0.4  # every pixel within 0.2 of the rounding threshold
    y = masked(x).argmax(1)
    settings = StrongAttackSettings.from_config(
        {**SETTINGS, "eps": [0.1, 0.25], "attacks": ["fgsm", "pgd", "square"], "square": {"queries": 40, "p_init": 0.3}}
    )
    table = evaluate_networks("masked", masked, None, x, y, settings, {}, log=lambda _: None)
    errors = table[table["eps"] == 0.25].set_index("attack")["error"]
    # FGSM sees a zero gradient; PGD gets only what its random start finds by luck.
    assert errors["fgsm"] == 0 and errors["square"] > errors["pgd"] + 0.1
    assert "masked gradients" in "; ".join(check_flags(errors.to_dict(), 0.25, settings))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"eps": [-0.1, 0.2]}, "eps must be positive"),
        ({"eps": [0.0]}, "eps must be positive"),
        ({"pgd": {"steps": 0, "restarts": 1, "relative_step_size": 2.5}}, "steps must be an integer >= 1"),
        ({"pgd": {"steps": 4, "restarts": 0, "relative_step_size": 2.5}}, "restarts must be an integer >= 1"),
        ({"pgd": {"steps": 4, "restarts": 1, "relative_step_size": 2.5, "norm": 2}}, "strong_attacks.pgd"),
        ({"attacks": ["fgsm", "carlini_wagner"]}, "unknown attack name(s) ['carlini_wagner']"),
        ({"square": {"queries": 0, "p_init": 0.3}}, "Square queries must be an integer >= 1"),
        ({"square": {"queries": 10, "p_init": 1.5}}, "Square p_init must be in (0, 1]"),
        ({"square": {"queries": 10, "p_init": 0.3, "norm": 2}}, "strong_attacks.square"),
        ({"sanity_eps": -1.0}, "eps must be positive"),
    ],
)
def test_bad_attack_parameters_raise_config_error(change, message):
    with pytest.raises(ConfigError) as error:
        StrongAttackSettings.from_config({**SETTINGS, **change})
    assert message in str(error.value)


def test_package_level_checks():
    assert check_eps([0.3, 0.1]) == [0.1, 0.3]
    with pytest.raises(ConfigError, match="repeat"):
        check_eps([0.1, 0.1])
    with pytest.raises(ConfigError, match="unknown attack"):
        check_attack_names(["pgd", "carlini_wagner"])
    with pytest.raises(ConfigError, match="eps must be positive"):
        pgd_outcome(_linear(), *random_set(2), [-0.1], PGDSettings(steps=1, restarts=1))


def test_flags_name_each_failed_check():
    settings = StrongAttackSettings.from_config(SETTINGS)
    assert check_flags({"fgsm": 0.5, "pgd": 0.6, "transfer_lenet": 0.55, "robust": 0.6}, 0.1, settings) == []
    flags = check_flags({"fgsm": 0.5, "pgd": 0.4, "eot_pgd": 0.3, "transfer_lenet": 0.7, "robust": 0.7}, 0.2, settings)
    assert flags == ["pgd weaker than fgsm", "transfer_lenet stronger than white-box", "eot_pgd weaker than pgd"]
    assert check_flags({"pgd": 0.9, "robust": 0.9}, 1.0, settings) == ["robust error 90.0% < 95% at sanity eps"]
    assert check_flags({"pgd": 0.3, "square": 0.6, "robust": 0.6}, 0.1, settings) == [
        "square (gradient-free) stronger than white-box: masked gradients"
    ]
    # Within the tolerance (1 percentage point) nothing is flagged.
    assert check_flags({"fgsm": 0.5, "pgd": 0.495, "robust": 0.5}, 0.1, settings) == []


def test_attack_plan_follows_the_method():
    settings = StrongAttackSettings.from_config(SETTINGS)
    assert attack_plan(settings, has_preprocess=False, randomized=False, method="lenet") == ["fgsm", "pgd"]
    assert attack_plan(settings, has_preprocess=True, randomized=True, method="lowpass5_lenet") == [
        "fgsm", "fgsm_oblivious", "pgd", "pgd_oblivious", "eot_pgd", "transfer_lenet"
    ]
    with_square = StrongAttackSettings.from_config({**SETTINGS, "attacks": ["pgd", "square"]})
    assert attack_plan(with_square, has_preprocess=False, randomized=False, method="lenet") == ["pgd", "square"]


def test_worst_case_is_per_image_and_covers_every_attack_and_clean_errors():
    torch.manual_seed(0)
    network = Stacked(LowPassFilter(3, 1.3, noise_sigma=0.1, seed=0), _linear(3)).eval()
    oblivious = network.classifier
    x, y = random_set(24, seed=4)
    settings = StrongAttackSettings.from_config(SETTINGS)
    transfer = {"lenet": torch.stack([(x + e * torch.randn_like(x).sign()).clamp(0, 1) for e in settings.all_eps])}
    table = evaluate_networks("lp", network, oblivious, x, y, settings, transfer, log=lambda _: None)
    assert set(table["attack"]) == {"clean", "fgsm", "fgsm_oblivious", "pgd", "pgd_oblivious", "eot_pgd", "transfer_lenet", "robust"}
    assert (table["images"] == 24).all()
    clean = table.loc[table["attack"] == "clean", "error"].item()
    for eps, group in table[table["attack"] != "clean"].groupby("eps"):
        robust = group.loc[group["attack"] == "robust", "error"].item()
        attacks = group.loc[group["attack"] != "robust", "error"]
        assert robust >= attacks.max() - 1e-12 and robust >= clean
        assert robust <= min(1.0, clean + attacks.sum()) + 1e-12
    dists = table[table["attack"] == "pgd"].sort_values("eps")["dist"].tolist()
    assert all(0 < d <= e for d, e in zip(dists, settings.all_eps))


@pytest.mark.slow
@pytest.mark.parametrize(
    "strong, message",
    [
        ({"eps": [-0.1, 0.2]}, "-0.1"),
        ({"pgd": {"steps": 0, "restarts": 1, "relative_step_size": 2.5}}, "steps"),
        ({"attacks": ["fgsm", "carlini_wagner"]}, "carlini_wagner"),
        ({"transfer_sources": ["nosuch"]}, "transfer_sources names 'nosuch'"),
    ],
)
def test_workflow_rejects_bad_attack_parameters_before_any_job(tmp_path, mnist_dir, strong, message):
    result = dry_run(tmp_path / "work", mnist_dir, "strong_attacks", config=small_config_with(tmp_path, {"strong_attacks": strong}))
    assert not result.ok
    assert message in result.output
    assert not (tmp_path / "work" / "results").exists()


@pytest.mark.slow
def test_strong_attacks_target_builds_the_table_and_figure(tmp_path, mnist_dir):
    """The named target end to end on two methods (one random defense) plus the reference."""
    rows = [
        {"label": "No method", "method": "lenet", "noise": "fgsm"},
        {"label": "Low-pass filter", "method": "lowpass5_lenet", "noise": "fgsm_oblivious"},
    ]
    config = small_config_with(tmp_path, {"table2": {"dists": [0.0, 0.1], "rows": rows}, "strong_attacks": {"transfer_sources": ["lenet"]}})
    run_snakemake(tmp_path / "work", mnist_dir, "strong_attacks", config=config)
    results = tmp_path / "work" / "results"
    table = pd.read_csv(results / "tables/strong_attacks.csv")
    assert list(dict.fromkeys(table["method"])) == ["No method", "Low-pass filter", "PGD adversarial training (reference)"]
    assert sorted(set(table["eps"])) == [0.1, 0.2, 0.3, 1.0]
    assert (table["images"] == 40).all()
    assert (table["robust"] >= table[["fgsm", "pgd"]].max(axis=1) - 1e-9).all()
    lowpass = table[table["method"] == "Low-pass filter"]
    assert lowpass["eot_pgd"].notna().all() and lowpass["transfer_lenet"].notna().all()
    assert table.loc[table["method"] == "No method", "transfer_lenet"].isna().all()  # no transfer onto itself
    # At eps 1 every image can be turned into any other: a sound attack fools the model always.
    assert (table.loc[table["eps"] == 1.0, "robust"] == 100).all()
    assert table["flags"].map(lambda flags: isinstance(flags, str) and flags != "").all()
    markdown = (results / "tables/strong_attacks.md").read_text()
    assert "first 40 MNIST test images" in markdown and "PGD-trained 4 iterations" in markdown
    assert (results / "figures/strong_attacks_error_vs_eps.png").stat().st_size > 10_000
    assert not math.isnan(table.loc[table["method"] == "No method", "pgd_dist"].iloc[0])


@pytest.mark.slow
@pytest.mark.parametrize("enabled", [True, False])
def test_default_target_has_the_extended_table_only_when_enabled(tmp_path, mnist_dir, enabled):
    config = small_config_with(tmp_path, {"strong_attacks": {"enabled": enabled}})
    result = dry_run(tmp_path / "work", mnist_dir, config=config)
    assert result.ok, result.output
    assert ("strong_attacks_table" in result.jobs) is enabled
    assert "table2" in result.jobs
