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
        "Fast adversarial training (reference)",
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
    assert "first 40 MNIST test images" in markdown and "PGD-trained" not in markdown
    assert "LeNet with ReLU after its convolutions fast-AT 1 epochs x batch 100 (PGD-3 from a random start, eps 0.3" in markdown
    fast = torch.load(results / "strong_attacks/reference/fast_at_reference.pt", weights_only=True)["meta"]
    assert fast["name"] == "fast_at_reference" and fast["kept_epoch"] == 1 and len(fast["fast_history"]) == 1
    assert "AutoAttack standard" in markdown and "torchattacks 3.5.1" in markdown and "| autoattack |" in markdown
    assert (results / "figures/strong_attacks_error_vs_eps.png").stat().st_size > 10_000
    assert not math.isnan(table.loc[table["method"] == "No method", "pgd_dist"].iloc[0])


OFF_LINE = "strong_attacks: off on the CPU (enabled: auto)"


@pytest.mark.parametrize("enabled", [True, False, "auto"])
def test_the_default_target_has_the_extended_table_when_enabled_and_auto_is_off_on_the_cpu(tmp_path, no_data_dir, enabled):
    """This machine has no CUDA (the CUDA side is mocked below): auto plans no strong job and
    says so in one line; true and false force it either way, without the line."""
    config = small_config_with(tmp_path, {"strong_attacks": {"enabled": enabled}})
    result = dry_run(tmp_path / "work", no_data_dir, config=config)
    assert result.ok, result.output
    assert ("strong_attacks_table" in result.jobs) is (enabled is True)
    assert ("strong_evaluate" in result.jobs) is (enabled is True)
    assert "table2" in result.jobs and "strong_fast_reference_model" in result.jobs
    assert result.output.count(OFF_LINE) == (1 if enabled == "auto" else 0)


@pytest.mark.parametrize(("test_images", "mem_mb"), [(40, 2600), (1000, 17000)])
def test_the_strong_evaluation_asks_for_memory_in_step_with_its_rows(tmp_path, no_data_dir, test_images, mem_mb):
    """About 5 MB per (image, eps) row AutoAttack attacks, measured on the CPU: a SLURM job
    asking for the old flat 3,000 MB would be killed at the default 1,000 images."""
    config = small_config_with(tmp_path, {"strong_attacks": {"enabled": True, "test_images": test_images}})
    result = dry_run(tmp_path / "work", no_data_dir, "strong_attacks", config=config)
    assert result.ok, result.output
    assert f"mem_mb={mem_mb}," in result.output.split("rule strong_evaluate:", 1)[1].split("rule ", 1)[0]


def test_auto_is_on_where_the_jobs_find_cuda(tmp_path, no_data_dir, monkeypatch):
    from mnistrobust import devices

    monkeypatch.setattr(devices, "cuda_visible", lambda: True)
    config = small_config_with(tmp_path, {"strong_attacks": {"enabled": "auto"}})
    result = dry_run(tmp_path / "work", no_data_dir, config=config)
    assert result.ok, result.output
    assert "strong_attacks_table" in result.jobs and OFF_LINE not in result.output


def test_auto_is_on_where_a_cluster_profile_gives_the_jobs_gpus(tmp_path, no_data_dir):
    """profiles/slurm's set-resources give strong_evaluate `gpu: 1`: the login node that parses
    the workflow has no GPU, the nodes that run the jobs do. With `gpu: 0` it stays off."""
    config = small_config_with(tmp_path, {"strong_attacks": {"enabled": "auto"}})
    on = dry_run(tmp_path / "on", no_data_dir, config=config, set_resources={"strong_evaluate": {"gpu": 1}})
    off = dry_run(tmp_path / "off", no_data_dir, config=config, set_resources={"strong_evaluate": {"gpu": 0}})
    assert on.ok and off.ok, on.output + off.output
    assert "strong_attacks_table" in on.jobs and "strong_attacks_table" not in off.jobs


def test_asking_for_the_strong_target_prints_no_off_line(tmp_path, no_data_dir):
    config = small_config_with(tmp_path, {"strong_attacks": {"enabled": "auto"}})
    result = dry_run(tmp_path / "work", no_data_dir, "strong_attacks", config=config)
    assert result.ok, result.output
    assert "strong_attacks_table" in result.jobs and OFF_LINE not in result.output


@pytest.mark.slow  # a command-line Snakemake start: about 2 minutes on 2 cores
def test_the_slurm_profile_turns_auto_on(tmp_path, no_data_dir):
    """The real profile file, through the command line (the API reads no profile)."""
    import subprocess

    from conftest import REPO, snakemake_command

    config = small_config_with(tmp_path, {"strong_attacks": {"enabled": "auto"}})
    command = snakemake_command(tmp_path / "work", no_data_dir, "-n", "--profile", str(REPO / "profiles/slurm"), config=config)
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "strong_attacks_table" in result.stdout and OFF_LINE not in result.stdout + result.stderr