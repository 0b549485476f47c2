"""The human-study rules given a LeNet name that is not a model. (Figure 8 without answers,
then with a response database: test_workflow.py, on the small end-to-end run.)"""

from __future__ import annotations

import yaml
from conftest import SMALL_CONFIG, dry_run

FIGURE = "results/human/fig8_humans_vs_lenets.png"


def test_a_lenet_model_that_is_not_configured_is_named(tmp_path, mnist_dir):
    config = yaml.safe_load(SMALL_CONFIG.read_text())
    config["human"] = {**config["human"], "lenet_models": ["lenet", "lenet_ghost"]}
    path = tmp_path / "human.yaml"
    path.write_text(yaml.safe_dump(config))
    result = dry_run(tmp_path, mnist_dir, FIGURE, config=str(path))
    assert not result.ok and "lenet_ghost" in result.output
