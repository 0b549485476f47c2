"""Whether two runs of the workflow made the same results: CSVs value-equal, checkpoints
tensor-equal (timing metadata aside), HDF5 datasets equal (NaN equal to NaN) with the same
attributes, every other file byte-equal. Logs and benchmarks are left out.

    python docs/experiments/compare_runs.py OLD_WORKDIR NEW_WORKDIR

Used to check that a refactor leaves the small config's outputs as they were: run the same
target with both revisions (e.g. `snakemake -s <checkout>/Snakefile -d <workdir> all
--configfile tests/config/small.yaml ...`), then compare the two working directories."""
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import torch

old, new = Path(sys.argv[1]) / "results", Path(sys.argv[2]) / "results"
skip = ("logs", "benchmarks")
files = sorted(p.relative_to(old) for p in old.rglob("*") if p.is_file() and p.relative_to(old).parts[0] not in skip)
others = sorted(p.relative_to(new) for p in new.rglob("*") if p.is_file() and p.relative_to(new).parts[0] not in skip)
print("only in old:", sorted(set(files) - set(others)))
print("only in new:", sorted(set(others) - set(files)))
counts, differ = {}, []
for rel in files:
    a, b = old / rel, new / rel
    if not b.exists():
        continue
    kind = rel.suffix
    counts[kind] = counts.get(kind, 0) + 1
    if kind == ".csv":
        same = pd.read_csv(a).equals(pd.read_csv(b))
    elif kind == ".pt":
        x, y = torch.load(a, weights_only=False), torch.load(b, weights_only=False)
        def flat(o, prefix=""):
            if isinstance(o, dict):
                for k, v in o.items():
                    yield from flat(v, f"{prefix}/{k}")
            elif isinstance(o, (list, tuple)):
                for i, v in enumerate(o):
                    yield from flat(v, f"{prefix}/{i}")
            else:
                yield prefix, o
        fx, fy = dict(flat(x)), dict(flat(y))
        same = fx.keys() == fy.keys() and all(
            torch.equal(fx[k], fy[k]) if isinstance(fx[k], torch.Tensor) else (fx[k] == fy[k] or k.endswith(("train_seconds", "seconds")) or "images_per_second" in k)
            for k in fx)
        if not same:
            print("  pt keys differing:", [k for k in fx if k in fy and not (torch.equal(fx[k], fy[k]) if isinstance(fx[k], torch.Tensor) else fx[k] == fy[k])][:8])
    elif kind in (".h5", ".hdf5"):
        with h5py.File(a) as fa, h5py.File(b) as fb:
            names = []
            fa.visit(names.append)
            same = dict(fa.attrs) .keys() == dict(fb.attrs).keys()
            for n in names:
                if isinstance(fa[n], h5py.Dataset):
                    x, y = fa[n][()], fb[n][()]
                    same &= np.array_equal(x, y, equal_nan=getattr(x, "dtype", np.dtype("O")).kind == "f")
    elif kind in (".md", ".html", ".json", ".txt", ".tsv"):
        same = a.read_bytes() == b.read_bytes()
    else:
        same = a.read_bytes() == b.read_bytes()
    if not same:
        differ.append(str(rel))
print("compared:", counts)
print("differ:", differ)
