"""The strong_attacks target of the workflow (workflow/rules/strong_attacks.smk): end to end
on the small config, and in the default target only when enabled. (Bad strong_attacks
settings: test_config.py.)"""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from conftest import dry_run, run_snakemake, small_config_with


@pytest.mark.slow
def test_strong_attacks_target_builds_the_table_and_figure(tmp_path, mnist_dir):
    """The named target end to end on two methods (one random defense) plus the reference."""
    rows = [
        {"label": "No method", "method": "lenet", "noise": "fgsm"},
        {"label": "Low-pass filter", "method": "lowpass5_lenet", "noise": "fgsm_oblivious"},
        {"label": "Bit depth (plug-in)", "method": "bitdepth1_lenet", "noise": "fgsm_bpda"},
    ]
    config = small_config_with(tmp_path, {"table2": {"dists": [0.0, 0.1], "rows": rows}, "strong_attacks": {"transfer_sources": ["lenet"]}})
    run_snakemake(tmp_path / "work", mnist_dir, "strong_attacks", config=config)
    results = tmp_path / "work" / "results"
    table = pd.read_csv(results / "tables/strong_attacks.csv")
    assert list(dict.fromkeys(table["method"])) == [
        "No method", "Low-pass filter", "Bit depth (plug-in)",
        "PGD adversarial training (reference)", "Fast adversarial training (reference)",
    ]
    assert sorted(set(table["eps"])) == [0.1, 0.2, 0.3, 1.0]
    assert (table["images"] == 40).all()
    assert (table["robust"] >= table[["fgsm", "pgd", "autoattack"]].max(axis=1) - 1e-9).all()
    assert table["autoattack"].notna().all()  # every method, the randomized low-pass filter too (rand version)
    lowpass = table[table["method"] == "Low-pass filter"]
    assert lowpass["eot_pgd"].notna().all() and lowpass["transfer_lenet"].notna().all()
    assert table.loc[table["method"] == "No method", "transfer_lenet"].isna().all()  # no transfer onto itself
    # The plug-in example: FGSM sees a zero gradient, BPDA goes through, and the flag says so.
    plugin = table[table["method"] == "Bit depth (plug-in)"].set_index("eps")
    assert (plugin.loc[0.3, "pgd_bpda"] > plugin.loc[0.3, "fgsm"] + 20) and plugin["pgd_bpda"].notna().all()
    assert "pgd_bpda stronger than pgd" in plugin.loc[0.3, "flags"]
    # At eps 1 every image can be turned into any other: a sound attack fools the model always.
    assert (table.loc[table["eps"] == 1.0, "robust"] == 100).all()
    assert table["flags"].map(lambda flags: isinstance(flags, str) and flags != "").all()
    markdown = (results / "tables/strong_attacks.md").read_text()
    assert "first 40 MNIST test images" in markdown and "PGD-trained 4 iterations" in markdown
    assert "LeNet with ReLU after its convolutions fast-AT 1 epochs x batch 100 (PGD-3 from a random start, eps 0.3" in markdown
    fast = torch.load(results / "strong_attacks/reference/fast_at_reference.pt", weights_only=True)["meta"]
    assert fast["name"] == "fast_at_reference" and fast["kept_epoch"] == 1 and len(fast["fast_history"]) == 1
    assert "AutoAttack standard" in markdown and "torchattacks 3.5.1" in markdown and "| autoattack |" in markdown
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
