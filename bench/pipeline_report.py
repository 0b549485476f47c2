"""Per-method speed of a finished pipeline run, from Snakemake's benchmark files.

Every rule writes ``results/benchmarks/...tsv`` (wall seconds, peak RSS). This script
turns them into images/s per trained network and per evaluated method (training:
iterations x batch / s; sweeps: levels x test images / s, i.e. perturbed test images
classified per second, whatever the method costs per image), prints a table, and
appends the rows to bench/results.csv with the machine and the config used.

    python bench/pipeline_report.py [--workdir .] [--config config.yaml] [--wall-seconds N] [--note TEXT]

Run it after `make reproduce`; ``--wall-seconds`` records the run's measured wall time.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import platform
from pathlib import Path

import pandas as pd
import torch
import yaml

from mnistrobust.jobs.runtime import resolve_device

RESULTS = Path(__file__).with_name("results.csv")


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.processor())
    return f"{model}, {os.cpu_count()} cores"


def job_times(workdir: Path) -> pd.DataFrame:
    rows = []
    for path in sorted((workdir / "results/benchmarks").rglob("*.tsv")):
        table = pd.read_csv(path, sep="\t")
        job = str(path.relative_to(workdir / "results/benchmarks").with_suffix(""))
        rows.append({"job": job, "seconds": float(table["s"].iloc[-1]), "max_rss_mb": float(table["max_rss"].iloc[-1])})
    return pd.DataFrame(rows)


def throughput(jobs: pd.DataFrame, config: dict) -> list[dict]:
    """images/s for each training and sweep job of the run."""
    batch, test_images, levels = config["solver"]["batch_size"], config["data"]["test_images"], config["evaluation"]["levels"]
    rows = []
    for job in jobs.itertuples():
        kind, _, name = job.job.partition("/")
        if kind == "train_model" and name in config["models"]:
            images, what = config["models"][name]["iterations"] * batch, f"train {name}"
        elif kind == "train_group" and name in config.get("training_groups", {}):
            members = config["training_groups"][name]
            images = sum(config["models"][member]["iterations"] for member in members) * batch
            what = f"train group {name} ({len(members)} networks, aggregate)"
        elif kind == "adversarial_stage":
            images, what = config["adversarial"]["iterations_per_stage"] * batch, f"train adversarial {name}"
        elif kind == "train_dae":
            images, what = config["dae"]["iterations"] * config["dae"]["batch_size"], "train DAE"
        elif kind == "sweep":
            method, noise = name.split("/")
            members = len(config["methods"][method]["members"])
            images = levels * test_images
            what = f"sweep {method} {noise} ({members} member{'s' if members > 1 else ''})"
        else:
            continue
        rows.append({"benchmark": what, "value": round(images / job.seconds, 1), "unit": "images/s", "note": f"{job.seconds:.1f} s, peak RSS {job.max_rss_mb:.0f} MB"})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("."))
    parser.add_argument("--config", type=Path, default=Path("config.yaml"))
    parser.add_argument("--wall-seconds", type=float, help="measured wall time of the whole run")
    parser.add_argument("--note", default="", help="added to every row (e.g. what else ran meanwhile)")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to bench/results.csv")
    args = parser.parse_args()
    config = yaml.safe_load(args.config.read_text())
    jobs = job_times(args.workdir)
    if jobs.empty:
        raise SystemExit(f"no benchmark files under {args.workdir / 'results/benchmarks'}; run the workflow first")
    rows = throughput(jobs, config)
    rows.append({"benchmark": f"pipeline: sum of {len(jobs)} job wall times", "value": round(jobs["seconds"].sum(), 1), "unit": "s", "note": ""})
    rows.append({"benchmark": "pipeline: largest job peak RSS", "value": jobs["max_rss_mb"].max(), "unit": "MB", "note": jobs.loc[jobs["max_rss_mb"].idxmax(), "job"]})
    if args.wall_seconds:
        rows.append({"benchmark": "pipeline: wall time of the whole run", "value": args.wall_seconds, "unit": "s", "note": ""})
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    device = resolve_device(config.get("device", "auto")).type  # what the run's config asked for, on this machine
    with open(os.devnull if args.no_record else RESULTS, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["date", "machine", "torch", "device", "benchmark", "value", "unit", "note"])
        for row in rows:
            note = "; ".join(part for part in (row["note"], f"config {args.config}", args.note) if part)
            writer.writerow({"date": stamp, "machine": machine(), "torch": torch.__version__, "device": device, **row, "note": note})
            print(f"{row['benchmark']:60s} {row['value']:12,.1f} {row['unit']:9s} {row['note']}")


if __name__ == "__main__":
    main()
