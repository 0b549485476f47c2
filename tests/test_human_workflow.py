"""The human-study rules given a LeNet name that is not a model. (Figure 8 without answers,
then with a response database: test_workflow.py, on the small end-to-end run.)"""

from __future__ import annotations

from conftest import dry_run, small_config_with

FIGURE = "results/human/fig8_humans_vs_lenets.png"


def test_a_lenet_model_that_is_not_configured_is_named(tmp_path, no_data_dir):
    config = small_config_with(tmp_path, {"human": {"lenet_models": ["lenet", "lenet_ghost"]}})
    result = dry_run(tmp_path / "work", no_data_dir, FIGURE, config=config)
    assert not result.ok and "lenet_ghost" in result.output
