"""Tests for mnistrobust.reports.tables: Table 2 read off curves, beside the paper's numbers,
and the markdown writer every table uses. (Writing Table 2 from curve files:
test_jobs_reporting.py.)"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mnistrobust.reports.curves import CURVE_COLUMNS
from mnistrobust.reports.tables import PAPER_DISTS, PAPER_TABLE2, markdown_table, paper_value, table2, to_markdown


def _curve(dist, error) -> pd.DataFrame:
    return pd.DataFrame(
        {"level": np.arange(len(dist)), "strength": dist, "dist": dist, "error": error}, columns=CURVE_COLUMNS
    )


CURVES = {
    "No method": _curve([0.0, 0.1, 0.3], [0.01, 0.5, 1.0]),
    "Dropout": _curve([0.0, 0.05, 0.25], [0.02, 0.2, 0.6]),
}


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
    table = table2(CURVES, PAPER_DISTS)
    assert list(table.columns) == ["method", "dist", "ours_pct", "paper_pct", "diff_pct"]
    assert len(table) == 6
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
    curves = {"My method": _curve([0.0, 0.15], [0.01, 0.4])}
    table = table2(curves, PAPER_DISTS)
    assert table["ours_pct"].iloc[0] == pytest.approx(1.0)
    assert table["ours_pct"].iloc[1] == pytest.approx(100 * (0.01 + (0.4 - 0.01) * 0.1 / 0.15))
    assert math.isnan(table["ours_pct"].iloc[2])  # 0.2 is beyond the curve
    assert table["paper_pct"].isna().all()
    assert table["diff_pct"].isna().all()


def test_to_markdown_one_line_per_method():
    table = table2(CURVES, PAPER_DISTS)
    text = to_markdown(table)
    assert text.endswith("\n")
    lines = text.splitlines()
    assert len(lines) == 2 + len(CURVES)  # header, separator, one per method
    assert lines[0].startswith("| method |")
    assert lines[0].count("dist=") == 3
    assert lines[1] == "| --- | --- | --- | --- |"
    assert lines[2] == "| No method | 1.00 (0.83, +0.17) | 50.00 (73.60, -23.60) | 75.00 (96.10, -21.10) |"
    assert lines[3].startswith("| Dropout | 2.00 (0.91, +1.09) |")
    for method in CURVES:
        assert sum(line.startswith(f"| {method} |") for line in lines) == 1


def test_markdown_table_with_and_without_a_title():
    assert markdown_table(["a", "b"], [["1", "2"], ["3", "4"]]) == "| a | b |\n| --- | --- |\n| 1 | 2 |\n| 3 | 4 |\n"
    titled = markdown_table(["a"], [["1"]], title="T")
    assert titled == "**T**\n\n| a |\n| --- |\n| 1 |\n"


def test_a_row_the_paper_does_not_have_is_marked_so():
    table = table2({"My method": _curve([0.0, 0.3], [0.01, 0.5])}, PAPER_DISTS)
    line = to_markdown(table).splitlines()[2]
    assert line == "| My method | 1.00 (not in paper) | 17.33 (not in paper) | 33.67 (not in paper) |"
