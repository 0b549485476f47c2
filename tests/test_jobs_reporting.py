"""Tests for mnistrobust.jobs.reporting: Table 2 from the curve files (CSV and markdown), a
configured error-curve figure, and Fig. 1. (What the figures show: test_reports_plots.py.)"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from mnistrobust.attacks.core import gradient_sign
from mnistrobust.data import load_split
from mnistrobust.errors import ConfigError, DataError
from mnistrobust.io.hdf5 import save_sign_map
from mnistrobust.jobs.reporting import error_curves_figure, figure1, table2_job, write_table2
from mnistrobust.reports.tables import PAPER_DISTS, REPLICATED_TABLE2_COLUMNS, TABLE2_COLUMNS, to_markdown

from model_support import TABLE2_CURVES, error_curve, seeded_lenet


def test_write_table2_writes_csv_and_markdown(tmp_path):
    paths = {}
    for method, curve in TABLE2_CURVES.items():
        path = tmp_path / "curves" / f"{method.replace(' ', '_')}.csv"
        path.parent.mkdir(exist_ok=True)
        curve.to_csv(path, index=False)
        paths[method] = str(path)
    csv_path = tmp_path / "out" / "table2.csv"
    md_path = tmp_path / "out" / "table2.md"
    cells = {}
    for method in TABLE2_CURVES:
        cells[method] = str(tmp_path / "curves" / f"{method.replace(' ', '_')}_cells.csv")
        pd.DataFrame(
            {"target_dist": PAPER_DISTS, "strength": [0.0, 0.2, 0.4], "dist": PAPER_DISTS, "error": [0.01, 0.7, 0.9]}
        ).to_csv(cells[method], index=False)
    attacks = {"No method": "fgsm", "Dropout": "fgsm_oblivious"}
    table = write_table2([paths], PAPER_DISTS, str(csv_path), str(md_path), attacks, [cells])
    assert sorted(os.listdir(tmp_path / "out")) == ["table2.csv", "table2.md"]
    written = pd.read_csv(csv_path, keep_default_na=False)
    assert list(written.columns) == TABLE2_COLUMNS
    assert len(written) == 6
    np.testing.assert_allclose(written["ours_pct"], table["ours_pct"], rtol=1e-3)
    assert list(written["ours_pct"].iloc[:3]) == pytest.approx([1.0, 70.0, 90.0])  # measured cells
    assert written["curve_pct"].iloc[2] == pytest.approx(75.0)  # the curve's reading
    assert list(written["attack"]) == ["fgsm"] * 3 + ["fgsm_oblivious"] * 3
    assert list(written["verdict"].iloc[:3]) == ["reproduced", "reproduced", "differs"]  # 0.17, 3.6, 6.1 points off
    assert md_path.read_text() == to_markdown(table)


def test_write_table2_over_two_replicates_writes_each_cell_with_its_range(tmp_path):
    replicate_curves = []
    for replicate, clean in enumerate((0.008, 0.010), start=1):
        path = tmp_path / f"r{replicate}.csv"
        error_curve([0.0, 0.1, 0.2], [clean, 0.7, 0.95]).to_csv(path, index=False)
        replicate_curves.append({"No method": str(path)})
    csv_path, md_path = tmp_path / "table2.csv", tmp_path / "table2.md"
    write_table2(replicate_curves, PAPER_DISTS, str(csv_path), str(md_path))
    written = pd.read_csv(csv_path, keep_default_na=False)
    assert list(written.columns) == REPLICATED_TABLE2_COLUMNS
    clean = written.iloc[0]
    assert (clean["ours_pct"], clean["low_pct"], clean["high_pct"]) == pytest.approx((0.9, 0.8, 1.0))
    assert clean["replicates"] == 2 and clean["interval"] == "min-max" and clean["verdict"] == "reproduced"
    assert "Reproduced: 3 of 3 cells" in md_path.read_text()


def test_table2_job_groups_the_rules_flat_lists_by_replicate(tmp_path):
    """Replicate 1's rows then replicate 2's; curves of replicate 1 alone (replicate_curves false)."""
    labels = ["No method", "Dropout"]
    curves = []
    for label in labels:
        curves.append(str(tmp_path / f"{label}_curve.csv"))
        error_curve([0.0, 0.1, 0.2], [0.01, 0.7, 0.9]).to_csv(curves[-1], index=False)
    cells = []
    for replicate, clean in ((1, 0.008), (2, 0.010)):
        for label in labels:
            cells.append(str(tmp_path / f"r{replicate}_{label}_cells.csv"))
            pd.DataFrame(
                {"target_dist": PAPER_DISTS, "strength": [0.0, 0.2, 0.4], "dist": PAPER_DISTS, "error": [clean, 0.7, 0.9]}
            ).to_csv(cells[-1], index=False)
    logged = []
    csv_path, md_path = tmp_path / "table2.csv", tmp_path / "table2.md"
    table = table2_job(labels, curves, cells, PAPER_DISTS, ["fgsm", "fgsm_oblivious"], str(csv_path), str(md_path), logged.append)
    assert list(table["attack"]) == ["fgsm"] * 3 + ["fgsm_oblivious"] * 3
    assert list(table["replicates"]) == [2] * 6
    assert list(table["ours_pct"].iloc[[0, 3]]) == pytest.approx([0.9, 0.9])  # the mean of 0.8 and 1.0
    assert logged == ["\n" + table.to_string(index=False)]
    assert pd.read_csv(csv_path, keep_default_na=False)["ours_pct"].iloc[0] == pytest.approx(0.9)


def test_write_table2_bad_curve_raises_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("level,strength,dist\n0,0,0\n")
    csv_path, md_path = tmp_path / "t.csv", tmp_path / "t.md"
    with pytest.raises(DataError, match="bad.csv"):
        write_table2([{"No method": str(bad)}], PAPER_DISTS, str(csv_path), str(md_path))
    assert not csv_path.exists() and not md_path.exists()


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _write_curves(folder, curves: dict[str, pd.DataFrame]) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, curve in curves.items():
        paths[name] = str(folder / f"{name.replace(' ', '_')}.csv")
        curve.to_csv(paths[name], index=False)
    return paths


def test_error_curves_figure_writes_the_configured_figure(tmp_path):
    paths = _write_curves(tmp_path / "curves", TABLE2_CURVES)
    specs = [{"label": "No method", "method": "lenet", "noise": "fgsm"}, {"label": "Dropout", "method": "lenet_all", "noise": "fgsm"}]
    output = tmp_path / "figures" / "fig3.png"
    error_curves_figure(specs, [paths["No method"], paths["Dropout"]], "Fig. 3", str(output))
    assert output.read_bytes()[:8] == PNG_MAGIC and output.stat().st_size > 10_000
    assert os.listdir(output.parent) == ["fig3.png"]


def test_figure1_shows_the_digits_at_the_distortions_read_off_the_sweeps(mnist_h5_file, tmp_path):
    images, labels = load_split(mnist_h5_file, "test", limit=3)
    sign_map = tmp_path / "fgsm_sign.h5"
    save_sign_map(sign_map, gradient_sign(seeded_lenet(0), images, labels), {"model": "lenet"})
    curves = {"gaussian": error_curve([0.0, 0.1, 0.3], [0.01, 0.2, 0.6]), "fgsm": error_curve([0.0, 0.15, 0.3], [0.01, 0.5, 0.9])}
    paths = _write_curves(tmp_path / "curves", curves)
    output = tmp_path / "figures" / "fig1_noise_examples.png"
    lines: list[str] = []
    figure1(str(mnist_h5_file), str(sign_map), paths, [0.0, 0.1, 0.2], 3, 0, str(output), log=lines.append)
    assert output.read_bytes()[:8] == PNG_MAGIC and output.stat().st_size > 10_000
    assert lines == ["Fig. 1: 3 digits x 3 distortions x 2 noises"]
    with pytest.raises(ConfigError, match="beyond the sweep's largest distortion"):
        figure1(str(mnist_h5_file), str(sign_map), paths, [0.0, 0.5], 3, 0, str(tmp_path / "other.png"), log=lines.append)
    assert not (tmp_path / "other.png").exists()
