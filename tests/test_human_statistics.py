"""Statistics across subjects: one row per group with its mean and confidence region."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from mnistrobust.human.statistics import summarize
from mnistrobust.statistics import student_t_quantile


def test_summarize_gives_one_row_per_group_including_levels_that_are_nan():
    per_subject = pd.DataFrame(
        {
            "noise": ["gaussian", "gaussian", "gaussian", "usps", "usps"],
            "level": [0.1, 0.1, 0.1, float("nan"), float("nan")],
            "accuracy": [0.5, 0.75, 1.0, 0.0, 1.0],
        }
    )
    summary = summarize(per_subject, ["noise", "level"], confidence=0.9)
    assert list(summary["noise"]) == ["gaussian", "usps"]
    assert list(summary["n"]) == [3, 2]
    assert list(summary["mean"]) == pytest.approx([0.75, 0.5])
    assert summary.loc[0, "ci_high"] - 0.75 == pytest.approx(student_t_quantile(0.95, 2) * 0.25 / math.sqrt(3))
