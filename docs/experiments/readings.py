"""The "reading x cell" tables of docs/results.md ("Readings of the Caffe set-up"): Table 2
cells of finished runs that differ in one config key, side by side with the paper's.

    python docs/experiments/readings.py RUN [RUN ...] [--rows LABEL ...] [--markdown]

RUN is `name=workdir`: the working directory of a run (`snakemake -d workdir ...`) whose
results/[r<k>/]table2_cells/<method>/<noise>.csv exist for some replicates. Rows are
Table 2's (config.yaml table2.rows, by label); a row whose cells a run lacks is skipped for
that run. Each cell is the mean over the replicates found, with its interval (95%
t-interval from three, min-max for two) and the verdict Table 2 would give.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd
import yaml

from mnistrobust.reports.tables import measured_errors, paper_value, verdict
from mnistrobust.statistics import replicate_interval

REPO = Path(__file__).resolve().parents[2]


def replicate_cells(workdir: Path, method: str, noise: str, dists: list[float]) -> list[list[float]]:
    """Per replicate found (r1, r2, ...), the errors (%) at ``dists``."""
    found = []
    for replicate in range(1, 100):
        prefix = "" if replicate == 1 else f"r{replicate}/"
        path = workdir / f"results/{prefix}table2_cells/{method}/{noise}.csv"
        if not path.exists():
            if replicate > 1:
                break
            continue
        found.append([100 * value for value in measured_errors(pd.read_csv(path), dists)])
    return found


def reading_rows(runs: dict[str, Path], rows: list[dict], dists: list[float]) -> pd.DataFrame:
    out = []
    for row in rows:
        for name, workdir in runs.items():
            values = replicate_cells(workdir, row["method"], row["noise"], dists)
            if not values:
                continue
            record = {"row": row["label"], "run": name, "replicates": len(values)}
            for index, dist in enumerate(dists):
                mean, low, high, _ = replicate_interval([v[index] for v in values], bounds=(0.0, 100.0))
                paper = paper_value(row["label"], dist)
                record[f"ours_{dist:g}"] = mean
                record[f"low_{dist:g}"], record[f"high_{dist:g}"] = low, high
                record[f"paper_{dist:g}"] = paper
                record[f"verdict_{dist:g}"] = "" if math.isnan(paper) else verdict(mean, paper, dist, low, high)
            out.append(record)
    return pd.DataFrame(out)


def markdown(table: pd.DataFrame, dists: list[float]) -> str:
    header = ["row", "reading", "R", *[f"dist {d:g}" for d in dists]]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for record in table.to_dict("records"):
        cells = []
        for dist in dists:
            mean, low, high = (record[f"{k}_{dist:g}"] for k in ("ours", "low", "high"))
            text = f"{mean:.2f}" + ("" if math.isnan(low) else f" [{low:.2f}, {high:.2f}]")
            if record[f"verdict_{dist:g}"] == "differs":
                text = f"**{text}**"
            cells.append(text)
        lines.append(f"| {record['row']} | {record['run']} | {record['replicates']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="name=workdir")
    parser.add_argument("--rows", nargs="*", help="Table 2 row labels (default: every row)")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    config = yaml.safe_load((REPO / "config.yaml").read_text())["table2"]
    runs = {}
    for spec in args.runs:
        name, sep, folder = spec.partition("=")
        if not sep or not Path(folder).is_dir():
            parser.error(f"{spec!r}: give name=workdir with an existing workdir")
        runs[name] = Path(folder)
    rows = [row for row in config["rows"] if not args.rows or row["label"] in args.rows]
    table = reading_rows(runs, rows, config["dists"])
    print(markdown(table, config["dists"]) if args.markdown else table.to_string(index=False))


if __name__ == "__main__":
    main()
