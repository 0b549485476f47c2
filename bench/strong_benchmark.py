"""The strong-attack evaluation of some methods, another revision of this repository against
this checkout, side by side in one run on one machine. Never a test:

    python bench/strong_benchmark.py --baseline 66e38db --test-images 200 \
        --methods lowpass5_lenet lowpass5_lenet_all committee

Each side runs ``snakemake results/strong_attacks/methods/<method>.csv`` (rule
``strong_evaluate``, one job at a time) with its own Snakefile, scripts and package (on
PYTHONPATH), in a scratch directory whose ``results/`` links to the trained networks and
data of ``--results`` (of a finished ``make reproduce``), so both attack the same
checkpoints. The baseline side runs first, method by method, then this checkout's. Each
side makes its own transfer examples (not timed). Prints and appends to bench/results.csv,
per method and side, the job's wall time (Snakemake's benchmark file) and the robust error
at every eps, and the ratio of the two times.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

from benchmark import append_rows, record

REPOSITORY = Path(__file__).resolve().parent.parent
# What the strong evaluation reads from a finished run; every other output is made anew.
LINKED = ("data", "models", "dae")


def side_directory(scratch: Path, name: str, results: Path) -> Path:
    work = scratch / name
    (work / "results").mkdir(parents=True)
    for entry in LINKED:
        if (results / entry).exists():
            (work / "results" / entry).symlink_to((results / entry).resolve())
    return work


def run_side(code: Path, work: Path, methods: list[str], overrides: Path, cores: int) -> None:
    """One snakemake per method, so that each job runs alone on the machine."""
    env = {**os.environ, "PYTHONPATH": str(code / "src")}
    for method in methods:
        command = [
            sys.executable, "-m", "snakemake", "-s", str(code / "Snakefile"), "-d", str(work), "--cores", str(cores),
            f"results/strong_attacks/methods/{method}.csv", "--rerun-triggers", "mtime", "--configfile", str(overrides),
        ]
        print(f"[{code.name}] {method}", flush=True)
        subprocess.run(command, env=env, check=True)


def side_results(work: Path, method: str) -> tuple[float, pd.Series]:
    seconds = pd.read_csv(work / f"results/benchmarks/strong_attacks/methods/{method}.tsv", sep="\t")["s"].iloc[0]
    table = pd.read_csv(work / f"results/strong_attacks/methods/{method}.csv")
    robust = table[table["attack"] == "robust"].set_index("eps")["error"]
    return float(seconds), robust


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="the revision to compare against (a commit of this repository)")
    parser.add_argument("--methods", nargs="+", default=["lowpass5_lenet", "lowpass5_lenet_all", "committee"])
    parser.add_argument("--test-images", type=int, default=1000)
    parser.add_argument("--results", default="results", help="a finished run's results/ (its data and networks)")
    parser.add_argument("--data-dir", default="", help="folder with mnist/ and usps/ (the data config), if not downloaded")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep-logs", default="", help="copy each side's job logs (every attack's progress, timed) here")
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()

    # Merged into each side's config.yaml (a --config value would reach the schema as text).
    overrides = {"strong_attacks": {"test_images": args.test_images}}
    if args.data_dir:
        data = Path(args.data_dir).resolve()
        overrides["data"] = {"mnist_local_dir": f"{data}/mnist", "usps_local_dir": f"{data}/usps"}
    results = Path(args.results).resolve()
    with tempfile.TemporaryDirectory(prefix="strong-bench-") as scratch_name:
        scratch = Path(scratch_name)
        config = scratch / "overrides.yaml"
        config.write_text(yaml.safe_dump(overrides))
        baseline_code = scratch / "baseline-code"
        subprocess.run(["git", "-C", str(REPOSITORY), "worktree", "add", "--detach", str(baseline_code), args.baseline], check=True)
        try:
            sides = {
                f"baseline {args.baseline}": (baseline_code, side_directory(scratch, "baseline", results)),
                "this checkout": (REPOSITORY, side_directory(scratch, "ours", results)),
            }
            for code, work in sides.values():
                run_side(code, work, args.methods, config, args.cores)
            rows: list[dict] = []
            note = f"strong_evaluate, {args.test_images} test images, config.yaml otherwise"
            for method in args.methods:
                measured = {name: side_results(work, method) for name, (_, work) in sides.items()}
                for name, (seconds, robust) in measured.items():
                    errors = ", ".join(f"eps {eps:g}: {100 * error:.1f}%" for eps, error in robust.items())
                    record(rows, f"strong {method}: {name}", seconds, "s", f"{note}; robust error {errors}")
                (old, old_robust), (new, new_robust) = measured.values()
                change = (100 * (new_robust - old_robust).abs()).max()
                record(rows, f"strong {method}: this checkout / baseline", new / old, "x", f"{note}; robust error differs by at most {change:.1f} points")
            if args.keep_logs:
                for name, (_, work) in sides.items():
                    shutil.copytree(work / "results/logs/strong_attacks", Path(args.keep_logs) / name.split()[0], dirs_exist_ok=True)
        finally:
            subprocess.run(["git", "-C", str(REPOSITORY), "worktree", "remove", "--force", str(baseline_code)], check=False)
    if not args.no_record:
        append_rows(rows)


if __name__ == "__main__":
    main()
