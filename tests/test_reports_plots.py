"""The figures' reading aids: the paper's Table 2 points on the curves, and the strong-attack
figure's reported eps only, with a marker per method that the legend names."""

from __future__ import annotations

import math

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest
import yaml
from matplotlib.collections import PathCollection
from matplotlib.lines import Line2D

from mnistrobust.reports.plots import BAND_GID, NOISE_TITLES, PAPER_GID, PAPER_LABEL, error_curves, paper_points, strong_attack_curves
from mnistrobust.reports.tables import PAPER_TABLE2

from conftest import REPO

DISTS = np.linspace(0.0, 0.25, 6)
TABLE2_ROWS = [
    {"label": "No method", "method": "lenet", "noise": "fgsm"},
    {"label": "Dropout", "method": "lenet_all", "noise": "fgsm"},
    {"label": "Low-pass filter", "method": "lowpass5_lenet", "noise": "fgsm_oblivious"},
    # Our extra row: no paper value, so no marker.
    {"label": "Low-pass filter (end-to-end attack)", "method": "lowpass5_lenet", "noise": "fgsm"},
]
SPECS = [
    {"label": "LeNet", "method": "lenet", "noise": "fgsm"},
    {"label": "Inp-Dropout", "method": "lenet_inp", "noise": "fgsm"},
    {"label": "LPF 5x5 + LeNet", "method": "lowpass5_lenet", "noise": "fgsm"},
    {"label": "LeNet", "method": "lenet", "noise": "gaussian"},
]
SANITY_EPS = 1.0
REPORTED_EPS = [0.1, 0.2, 0.3]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def synthetic_curves(specs) -> pd.DataFrame:
    frames = [
        pd.DataFrame({"dist": DISTS, "error": np.minimum(1.0, 0.01 + (2 + i) * DISTS)}).assign(
            method=spec["label"], noise=spec["noise"]
        )
        for i, spec in enumerate(specs)
    ]
    return pd.concat(frames, ignore_index=True)


def marker_points(ax) -> list[tuple[float, float, tuple]]:
    """(x, y, edge colour) of every marker-only artist: lines with markers and no line."""
    points = []
    for line in ax.lines:
        if line.get_linestyle() in ("None", "none", "") and line.get_marker() not in ("None", "none", "", None):
            colour = mcolors.to_rgb(line.get_markeredgecolor())
            points += [(float(x), float(y), colour) for x, y in zip(line.get_xdata(), line.get_ydata())]
    for collection in (c for c in ax.collections if isinstance(c, PathCollection)):  # scatter, not error bands
        offsets = collection.get_offsets()
        colours = collection.get_edgecolors()
        points += [(float(x), float(y), mcolors.to_rgb(colours[i % len(colours)])) for i, (x, y) in enumerate(offsets)]
    return points


def legend_entries(figure) -> dict[str, Line2D]:
    legend = figure.legends[0] if figure.legends else figure.axes[0].get_legend()
    return {text.get_text(): handle for text, handle in zip(legend.get_texts(), legend.legend_handles)}


def panel(figure, noise: str):
    return next(ax for ax in figure.axes if ax.get_title() == NOISE_TITLES[noise])


def test_paper_points_match_curves_on_method_and_noise():
    points = paper_points(
        SPECS + [{"label": "LPF", "method": "lowpass5_lenet", "noise": "fgsm_oblivious"}], TABLE2_ROWS
    )
    by_label = {label: list(group["error"] * 100) for label, group in points.groupby("method")}
    assert by_label == {
        "LeNet": pytest.approx(PAPER_TABLE2["No method"]),
        "LPF": pytest.approx(PAPER_TABLE2["Low-pass filter"]),
    }
    assert set(points.loc[points["method"] == "LeNet", "noise"]) == {"fgsm"}  # not the Gaussian LeNet curve
    assert list(points.loc[points["method"] == "LeNet", "dist"]) == pytest.approx([0.0, 0.1, 0.2])


def test_curve_figure_marks_the_paper_values_in_the_curve_colour():
    figure = error_curves(synthetic_curves(SPECS), "test", paper_points(SPECS, TABLE2_ROWS))
    legend = legend_entries(figure)
    lenet_colour = mcolors.to_rgb(legend["LeNet"].get_color())

    points = marker_points(panel(figure, "fgsm"))
    paper = PAPER_TABLE2["No method"]
    for dist, value in [(0.1, paper[1]), (0.2, paper[2])]:
        assert any(
            math.isclose(x, dist) and math.isclose(y, value) and c == lenet_colour for x, y, c in points
        ), f"no LeNet-coloured paper marker at ({dist}, {value}) in {points}"
    # Only the LeNet curve has a Table 2 row with a paper value: Inp-Dropout has no row, the
    # end-to-end low-pass row has no paper value.
    assert len(points) == 3
    assert {c for _, _, c in points} == {lenet_colour}
    assert marker_points(panel(figure, "gaussian")) == []
    assert list(legend).count(PAPER_LABEL) == 1


def test_curve_figure_without_table2_curves_has_no_paper_markers():
    specs = [spec for spec in SPECS if spec["noise"] == "gaussian"]
    figure = error_curves(synthetic_curves(specs), "test", paper_points(specs, TABLE2_ROWS))
    assert all(marker_points(ax) == [] for ax in figure.axes)
    assert PAPER_LABEL not in legend_entries(figure)


def test_figure_job_passes_table2_rows_through(tmp_path, monkeypatch):
    from mnistrobust.jobs import reporting

    saved = []
    monkeypatch.setattr(reporting, "save_figure", lambda figure, path: saved.append(figure))
    paths = []
    for i, spec in enumerate(SPECS):
        path = tmp_path / f"{i}.csv"
        pd.DataFrame({"level": range(len(DISTS)), "strength": DISTS, "dist": DISTS, "error": 0.01 + 2 * DISTS}).to_csv(
            path, index=False
        )
        paths.append(str(path))
    reporting.error_curves_figure(SPECS, paths, "test", str(tmp_path / "figure.png"), TABLE2_ROWS)
    points = sorted(marker_points(panel(saved[0], "fgsm")))
    assert [x for x, _, _ in points] == pytest.approx([0.0, 0.1, 0.2])
    assert [y for _, y, _ in points] == pytest.approx(PAPER_TABLE2["No method"])


def synthetic_strong_results(methods) -> pd.DataFrame:
    rows = []
    for i, method in enumerate(methods):
        rows.append({"method": method, "attack": "clean", "eps": 0.0, "error": 0.01, "dist": 0.0, "added": 0.0, "images": 20})
        for eps in [*REPORTED_EPS, SANITY_EPS]:
            fgsm = min(1.0, eps * (3 - 0.25 * i))
            for attack, error in [("fgsm", fgsm), ("pgd", min(1.0, fgsm + 0.1)), ("robust", min(1.0, fgsm + 0.15))]:
                rows.append({"method": method, "attack": attack, "eps": eps, "error": error, "dist": eps, "added": 0.0, "images": 20})
    return pd.DataFrame(rows)


METHODS = ["No method", "Dropout", "DAE", "Standard committee", "Adversarial training after 5 stages", "reference"]


def data_lines(ax) -> list[Line2D]:
    return [line for line in ax.lines if len(line.get_xdata())]


def check_strong_figure(figure):
    assert len(figure.axes) == 2
    for ax in figure.axes:
        xs = {float(x) for line in data_lines(ax) for x in line.get_xdata()}
        assert sorted(xs) == pytest.approx(sorted(REPORTED_EPS)) and not any(math.isclose(x, SANITY_EPS) for x in xs)
        assert ax.get_xlim()[1] < SANITY_EPS


def test_strong_figure_drops_the_sanity_eps_and_styles_each_method():
    figure = strong_attack_curves(synthetic_strong_results(METHODS), "test", REPORTED_EPS)
    check_strong_figure(figure)
    legend = legend_entries(figure)
    assert set(legend) == set(METHODS)
    for ax in figure.axes:
        lines = data_lines(ax)
        assert len(lines) == len(METHODS)
        markers = [line.get_marker() for line in lines]
        assert len(set(markers)) == len(METHODS), f"markers repeat: {markers}"
        assert {line.get_linestyle() for line in lines} != {"-"}, "every line is solid"
        # The legend lets a reader find each line: its handle has that line's colour and marker.
        drawn = {(mcolors.to_rgb(line.get_color()), line.get_marker()) for line in lines}
        assert {(mcolors.to_rgb(h.get_color()), h.get_marker()) for h in legend.values()} == drawn


def test_a_long_strong_title_wraps_without_widening_the_figure(tmp_path):
    from PIL import Image

    from mnistrobust.io.storage import save_figure

    widths = {}
    for name, title in (("short", "test"), ("long", "budget; " * 80)):
        save_figure(strong_attack_curves(synthetic_strong_results(METHODS), title, REPORTED_EPS), tmp_path / f"{name}.png")
        widths[name] = Image.open(tmp_path / f"{name}.png").width
    assert widths["long"] <= 1.05 * widths["short"], widths


def test_strong_legend_runs_from_the_highest_line_to_the_lowest():
    figure = strong_attack_curves(synthetic_strong_results(METHODS), "test", REPORTED_EPS)
    assert list(legend_entries(figure)) == METHODS  # synthetic errors fall with the method's index


def test_strong_report_plots_the_configured_eps_only(tmp_path, monkeypatch):
    from mnistrobust.jobs import strong_attacks

    config = yaml.safe_load((REPO / "config.yaml").read_text())["strong_attacks"]
    settings = {**config, "test_images": 20, "eps": REPORTED_EPS, "sanity_eps": SANITY_EPS}
    results = synthetic_strong_results(METHODS)
    paths = {}
    for method, frame in results.groupby("method", sort=False):
        paths[method] = str(tmp_path / f"{len(paths)}.csv")
        frame.to_csv(paths[method], index=False)
    saved = []
    monkeypatch.setattr(strong_attacks, "save_figure", lambda figure, path: saved.append(figure))
    table, markdown = str(tmp_path / "table.csv"), str(tmp_path / "table.md")
    strong_attacks.write_strong_report(
        paths, settings, config["fast_reference"], table, markdown, "unused.png", log=lambda _: None
    )
    check_strong_figure(saved[0])


def test_figure_job_over_two_replicates_draws_their_mean_with_a_min_max_band(tmp_path, monkeypatch):
    from mnistrobust.jobs import reporting

    saved = []
    monkeypatch.setattr(reporting, "save_figure", lambda figure, path: saved.append(figure))
    paths = []
    for replicate_error in (0.2, 0.4):  # replicate 1's curves, then replicate 2's
        for i, spec in enumerate(SPECS):
            path = tmp_path / f"r{replicate_error}_{i}.csv"
            curve = {"level": range(len(DISTS)), "strength": DISTS, "dist": DISTS, "error": replicate_error * DISTS / 0.25}
            pd.DataFrame(curve).to_csv(path, index=False)
            paths.append(str(path))
    reporting.error_curves_figure(SPECS, paths, "test", str(tmp_path / "figure.png"), TABLE2_ROWS, replicates=2)
    fgsm = panel(saved[0], "fgsm")
    bands = [c for c in fgsm.collections if c.get_gid() == BAND_GID]
    assert len(bands) == len([spec for spec in SPECS if spec["noise"] == "fgsm"])
    heights = bands[0].get_paths()[0].vertices[:, 1]
    assert (heights.min(), heights.max()) == pytest.approx((0.0, 40.0))  # 20% and 40% at the largest dist
    line_end = max(max(line.get_ydata()) for line in fgsm.lines if line.get_gid() != PAPER_GID)
    assert line_end == pytest.approx(30.0)  # the mean of the two replicates
    assert "mean of 2 replicates, min-max" in legend_entries(saved[0])


def test_figure_job_needs_one_file_per_curve_and_replicate(tmp_path):
    from mnistrobust.jobs import reporting

    with pytest.raises(ValueError, match="3 curve files for 4 curves x 2 replicates"):
        reporting.error_curves_figure(SPECS[:4], ["a", "b", "c"], "test", str(tmp_path / "f.png"), replicates=2)
