"""Mean, standard deviation and t-based confidence region of accuracies across subjects or models."""

from __future__ import annotations

import pandas as pd

from ..statistics import mean_confidence


def summarize(per_unit: pd.DataFrame, by: list[str], value: str = "accuracy", confidence: float = 0.95) -> pd.DataFrame:
    """One row per group of ``by``: the statistics of ``value`` across the group's rows (one per subject or model)."""
    rows = [
        {**dict(zip(by, key if isinstance(key, tuple) else (key,))), **mean_confidence(group[value], confidence)}
        for key, group in per_unit.groupby(by, sort=True, dropna=False)
    ]
    return pd.DataFrame(rows, columns=[*by, "n", "mean", "sd", "ci_low", "ci_high"])
