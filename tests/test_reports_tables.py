"""Tests for mnistrobust.reports.tables: Table 2 from measured cells or read off curves,
beside the paper's numbers with a verdict per cell, and the markdown writer every table uses. (Writing Table 2 from curve files:
test_jobs_reporting.py.)"""

from __future__ import annotations

import math

import numpy as np
import pytest

import pandas as pd

from mnistrobust.errors import ConfigError
from mnistrobust.reports.tables import (
    PAPER_DISTS,
    PAPER_TABLE2,
    REPLICATED_TABLE2_COLUMNS,
    TABLE2_COLUMNS,
    markdown_table,
    paper_value,
    replicated_table2,
    reproduced_count,
    table2,
    to_markdown,
    verdict,
)

from model_support import TABLE2_CURVES, error_curve


def test_paper_table2_values():
    assert len(PAPER_TABLE2) == 9
    assert PAPER_TABLE2["No method"] == (0.83, 73.6, 96.1)
    assert PAPER_TABLE2["Committee of models trained on adv. examples"] == (0.65, 9.8, 36.5)
    assert PAPER_DISTS == (0.0, 0.1, 0.2)
    assert paper_value("No method", 0.1) == 73.6
    assert paper_value("No method", 0.2) == 96.1
    assert math.isnan(paper_value("No method", 0.15))
    assert math.isnan(paper_value("My method", 0.1))


def test_table2_reads_curves_and_paper():
    table = table2(TABLE2_CURVES, PAPER_DISTS)
    assert list(table.columns) == TABLE2_COLUMNS
    assert list(TABLE2_COLUMNS) == [
        "method", "attack", "dist", "ours_pct", "curve_pct", "paper_pct", "diff_pct", "verdict"
    ]
    assert len(table) == 6
    assert set(table["attack"]) == {"fgsm"}  # the default when no attacks are named
    np.testing.assert_allclose(table["curve_pct"], table["ours_pct"])  # no measured cells: the curve's reading
    no_method = table[table["method"] == "No method"]
    assert list(no_method["dist"]) == [0.0, 0.1, 0.2]
    assert list(no_method["ours_pct"]) == pytest.approx([1.0, 50.0, 75.0])
    assert list(no_method["paper_pct"]) == [0.83, 73.6, 96.1]
    assert list(no_method["diff_pct"]) == pytest.approx([1.0 - 0.83, 50.0 - 73.6, 75.0 - 96.1])
    dropout = table[table["method"] == "Dropout"]
    assert list(dropout["ours_pct"]) == pytest.approx([2.0, 30.0, 50.0])
    assert list(dropout["paper_pct"]) == [0.91, 35.7, 98.1]
    np.testing.assert_allclose(table["diff_pct"], table["ours_pct"] - table["paper_pct"])


def test_table2_nan_beyond_curve_and_for_unknown_method():
    curves = {"My method": error_curve([0.0, 0.15], [0.01, 0.4])}
    table = table2(curves, PAPER_DISTS)
    assert table["ours_pct"].iloc[0] == pytest.approx(1.0)
    assert table["ours_pct"].iloc[1] == pytest.approx(100 * (0.01 + (0.4 - 0.01) * 0.1 / 0.15))
    assert math.isnan(table["ours_pct"].iloc[2])  # 0.2 is beyond the curve
    assert table["paper_pct"].isna().all()
    assert table["diff_pct"].isna().all()


def test_to_markdown_one_line_per_method_with_its_attack_and_the_count_under_it():
    table = table2(TABLE2_CURVES, PAPER_DISTS, {"Dropout": "fgsm_oblivious"})
    text = to_markdown(table)
    assert text.endswith("\n")
    lines = text.splitlines()
    assert len(lines) == 2 + len(TABLE2_CURVES) + 2  # header, separator, one per method, blank, count
    assert lines[0].startswith("| method (attack) |")
    assert lines[0].count("dist=") == 3
    assert lines[1] == "| --- | --- | --- | --- |"
    assert lines[2] == (
        "| No method (gradient sign, end to end) | 1.00 (0.83, +0.17) reproduced | "
        "50.00 (73.60, -23.60) differs | 75.00 (96.10, -21.10) differs |"
    )
    assert lines[3].startswith("| Dropout (gradient sign, oblivious) | 2.00 (0.91, +1.09) differs |")
    assert lines[-1] == (
        "Reproduced: 1 of 6 cells of the paper (±0.3 points at dist 0 and ±5 points at dist 0.1/0.2)."
    )


@pytest.mark.parametrize(
    ("ours", "paper", "dist", "expected"),
    [
        (1.13, 0.83, 0.0, "reproduced"),  # 0.30 points: on the edge, in
        (1.14, 0.83, 0.0, "differs"),
        (78.6, 73.6, 0.1, "reproduced"),
        (68.5, 73.6, 0.1, "differs"),
        (91.0, 96.1, 0.2, "differs"),
        (12.0, math.nan, 0.1, ""),  # not in the paper: no verdict
    ],
)
def test_verdict_tolerance_is_tight_when_clean_and_wide_under_noise(ours, paper, dist, expected):
    assert verdict(ours, paper, dist) == expected


def test_measured_cells_give_ours_and_the_curve_gives_its_reading():
    curves = {"No method": error_curve([0.0, 0.3], [0.0, 0.9])}
    cells = {"No method": pd.DataFrame({"target_dist": [0.0, 0.1, 0.2], "strength": [0, 0.2, 0.4],
                                        "dist": [0.0, 0.1, 0.2], "error": [0.008, 0.75, 0.96]})}
    table = table2(curves, PAPER_DISTS, cells=cells)
    assert list(table["ours_pct"]) == pytest.approx([0.8, 75.0, 96.0])
    assert list(table["curve_pct"]) == pytest.approx([0.0, 30.0, 60.0])
    assert list(table["verdict"]) == ["reproduced", "reproduced", "reproduced"]
    assert reproduced_count(table).startswith("Reproduced: 3 of 3 cells")
    with pytest.raises(ConfigError, match="no cell measured at dist 0.2"):
        table2(curves, PAPER_DISTS, cells={"No method": cells["No method"].iloc[:2]})


def test_markdown_table_with_and_without_a_title():
    assert markdown_table(["a", "b"], [["1", "2"], ["3", "4"]]) == "| a | b |\n| --- | --- |\n| 1 | 2 |\n| 3 | 4 |\n"
    titled = markdown_table(["a"], [["1"]], title="T")
    assert titled == "**T**\n\n| a |\n| --- |\n| 1 |\n"


def test_a_row_the_paper_does_not_have_is_marked_so():
    table = table2({"My method": error_curve([0.0, 0.3], [0.01, 0.5])}, PAPER_DISTS)
    lines = to_markdown(table).splitlines()
    assert lines[2] == (
        "| My method (gradient sign, end to end) | 1.00 (not in paper) | 17.33 (not in paper) | 33.67 (not in paper) |"
    )
    assert list(table["verdict"]) == ["", "", ""]
    assert lines[-1].startswith("Reproduced: 0 of 0 cells")


# ------------------------------------------------------------------ over replicates


def _replicate_tables(no_method_at_01: list[float]) -> list[pd.DataFrame]:
    """Table 2 of one paper row per replicate, its error at dist 0.1 as given (percent)."""
    tables = []
    for value in no_method_at_01:
        cells = {"No method": pd.DataFrame({"target_dist": PAPER_DISTS, "strength": [0, 0.2, 0.4], "dist": PAPER_DISTS, "error": [0.008, value / 100, 0.96]})}
        tables.append(table2({"No method": error_curve([0.0, 0.3], [0.008, 1.0])}, PAPER_DISTS, cells=cells))
    return tables


def test_three_replicates_give_the_mean_and_its_95_percent_t_interval():
    table = replicated_table2(_replicate_tables([60.0, 64.0, 65.0]))
    assert list(table.columns) == REPLICATED_TABLE2_COLUMNS
    cell = table[table["dist"] == 0.1].iloc[0]
    half = 4.302653 * np.std([60.0, 64.0, 65.0], ddof=1) / math.sqrt(3)  # t(0.975, 2) sd / sqrt(3)
    assert cell["ours_pct"] == pytest.approx(63.0)
    assert (cell["low_pct"], cell["high_pct"]) == pytest.approx((63.0 - half, 63.0 + half), abs=1e-4)
    assert cell["interval"] == "95% t-interval" and cell["replicates"] == 3 and cell["replicate_pct"] == "60; 64; 65"
    assert cell["diff_pct"] == pytest.approx(63.0 - 73.6)
    # 10.6 points off, and the paper's 73.6 lies above the interval [56.4, 69.6]
    assert cell["high_pct"] < 73.6 and cell["verdict"] == "differs"


def test_the_paper_inside_a_wide_interval_counts_as_reproduced():
    # mean 63.0, 10.6 points below the paper's 73.6, but the replicates spread past it
    table = replicated_table2(_replicate_tables([50.0, 64.0, 75.0]))
    cell = table[table["dist"] == 0.1].iloc[0]
    assert abs(cell["diff_pct"]) > 5 and cell["low_pct"] < 73.6 < cell["high_pct"]
    assert cell["verdict"] == "reproduced"


def test_an_interval_stops_at_the_ends_of_an_error_rate():
    # dist 0.2 is 0.96 in every replicate table; near 100% the t-interval would pass 100
    tables = _replicate_tables([60.0, 64.0, 65.0])
    for table, value in zip(tables, [99.0, 99.9, 100.0]):
        table.loc[table["dist"] == 0.2, "ours_pct"] = value
    cell = replicated_table2(tables).query("dist == 0.2").iloc[0]
    assert cell["high_pct"] == 100.0 and 97.0 < cell["low_pct"] < cell["ours_pct"] < 100.0


def test_two_replicates_give_their_range():
    table = replicated_table2(_replicate_tables([70.0, 72.0]))
    cell = table[table["dist"] == 0.1].iloc[0]
    assert (cell["ours_pct"], cell["low_pct"], cell["high_pct"], cell["interval"]) == (71.0, 70.0, 72.0, "min-max")
    markdown = to_markdown(table)
    assert "dist=0.1: mean [min-max] (paper, diff)" in markdown
    assert "71.00 [70.00, 72.00] (73.60, -2.60) reproduced" in markdown
    assert "the mean of 2 replicates" in markdown and "or the paper's value inside our interval" in markdown


def test_replicates_with_different_rows_are_an_error():
    first, second = _replicate_tables([70.0, 72.0])
    with pytest.raises(ConfigError, match="rows differ"):
        replicated_table2([first, second.iloc[:2]])


def test_a_replicate_without_curves_contributes_its_cells_and_no_curve_reading():
    with_curve, without = _replicate_tables([70.0]), _cells_only_table(72.0)
    table = replicated_table2([with_curve[0], without])
    cell = table[table["dist"] == 0.1].iloc[0]
    assert cell["ours_pct"] == pytest.approx(71.0)
    assert cell["curve_pct"] == pytest.approx(with_curve[0].loc[1, "curve_pct"])  # replicate 1's alone
    assert math.isnan(without.loc[1, "curve_pct"])
    with pytest.raises(ValueError, match="needs curves or cells"):
        table2(None, PAPER_DISTS)


def _cells_only_table(value_at_01: float) -> pd.DataFrame:
    cells = {"No method": pd.DataFrame({"target_dist": PAPER_DISTS, "strength": [0, 0.2, 0.4], "dist": PAPER_DISTS, "error": [0.008, value_at_01 / 100, 0.96]})}
    return table2(None, PAPER_DISTS, cells=cells)
