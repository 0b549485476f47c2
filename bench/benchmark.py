"""Side-by-side speed measurements of training and the 100-level sweep, in one run.

Never a test: run it by hand (``make bench``) on a quiet machine. Each variant is timed
in this one process (the parallel-training variant in two child processes), results are
printed and appended to bench/results.csv with the machine, torch version and config.

    python bench/benchmark.py [--device cpu] [--levels-measured 10] [--train-iterations 300] [--sections train group bf16 ceiling sweep cells]

Slow variants are timed on a few levels and scaled to 100 levels; the row says so.
``--device cuda`` (or auto) times the same variants on the GPU: networks and training
data there, sweep noise drawn on the CPU as in the workflow; the CPU-only variant
(independent processes) is left out. The device goes into every row.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import multiprocessing
import os
import platform
import resource
import time
from pathlib import Path

import torch
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

from mnistrobust.attacks import FGSM
from mnistrobust.attacks.core import gradient_sign, input_gradient
from mnistrobust.cli import positive_int
from mnistrobust.evaluation.sweeps import errors_at_dists, noise_strengths, sweep
from mnistrobust.nets.models import LeNet, LeNetGroup
from mnistrobust.jobs.runtime import DEVICE_CHOICES, resolve_device
from mnistrobust.training.solver import SolverSettings, train, train_group

RESULTS = Path(__file__).with_name("results.csv")
LEVELS = 100
TEST_IMAGES = 10_000
# Where the timed variants run (--device).
DEVICE = torch.device("cpu")


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.processor())
    gpu = f", {torch.cuda.get_device_name(DEVICE)}" if DEVICE.type == "cuda" else ""
    return f"{model}, {os.cpu_count()} cores{gpu}"


def where() -> str:
    """How a row's variant ran: the CPU thread count, or the GPU (labels of earlier CPU rows kept)."""
    return "2 threads" if DEVICE.type == "cpu" else DEVICE.type


def synchronize() -> None:
    """Wait for queued GPU work, so that a timer read afterwards includes it."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


def record(rows: list[dict], name: str, value: float, unit: str, note: str = "") -> None:
    rows.append({"benchmark": name, "value": round(value, 2), "unit": unit, "note": note})
    print(f"{name:55s} {value:12,.1f} {unit:10s} {note}", flush=True)


def lenet(seed: int = 0) -> LeNet:
    model = LeNet()
    model.reset_parameters(seed)
    return model.to(DEVICE).eval()


def fake_mnist(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Speed does not depend on pixel values; sparse bright strokes like MNIST's."""
    generator = torch.Generator().manual_seed(seed)
    images = (torch.rand(n, 1, 28, 28, generator=generator) > 0.8).float()
    return images, torch.randint(0, 10, (n,), generator=generator)


def eager_train_images_per_second(iterations: int) -> float:
    """Plain PyTorch: NCHW tensors, torch.optim.SGD, batch 64."""
    images, labels = (t.to(DEVICE) for t in fake_mnist(60_000))
    model = lenet().train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    generator = torch.Generator().manual_seed(0)
    synchronize()
    started = time.perf_counter()
    for _ in range(iterations):
        index = torch.randint(0, len(images), (64,), generator=generator).to(DEVICE)
        loss = F.nll_loss(model(images[index]), labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    synchronize()
    return iterations * 64 / (time.perf_counter() - started)


def our_train_images_per_second(iterations: int, threads: int) -> float:
    torch.set_num_threads(threads)
    images, labels = fake_mnist(60_000)
    spec = SolverSettings(iterations=iterations, log_every=10**9)
    return train(lenet(), images, labels, spec, seed=0, log=lambda _: None)["images_per_second"]


def _child_train(iterations: int, queue) -> None:
    queue.put(our_train_images_per_second(iterations, threads=1))


def parallel_train_images_per_second(iterations: int, processes: int) -> float:
    """What the workflow does with --cores 2 and threads.train: 1 for independent models."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_child_train, args=(iterations, queue)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    rates = [queue.get() for _ in workers]
    for worker in workers:
        worker.join()
    return sum(rates)


def grouped_training(rows: list[dict], iterations: int, group_size: int) -> None:
    """One LeNet alone vs ``group_size`` LeNets as one LeNetGroup, same iterations, 2 threads:
    what the human study's 20 LeNets cost (lenet alone + lenet_seed2..20 as a group)."""
    torch.set_num_threads(2)
    images, labels = fake_mnist(60_000)
    spec = SolverSettings(iterations=iterations, log_every=10**9)
    synchronize()
    started = time.perf_counter()
    train(lenet(), images, labels, spec, seed=0, log=lambda _: None)
    synchronize()
    alone = time.perf_counter() - started
    group = LeNetGroup([lenet(seed) for seed in range(group_size)]).to(DEVICE)
    synchronize()
    started = time.perf_counter()
    train_group(group, images, labels, spec, list(range(group_size)), log=lambda _: None)
    synchronize()
    grouped = time.perf_counter() - started
    per_model = iterations * spec.batch_size
    record(rows, f"train: one LeNet alone, {where()}", per_model / alone, "images/s")
    record(rows, f"train: group of {group_size} LeNets, {where()} (aggregate)", group_size * per_model / grouped, "images/s")
    record(rows, f"train: group of {group_size}, speed-up per model over alone", alone * group_size / grouped, "x")
    record(
        rows,
        f"train: 1 alone + group of {group_size} = {group_size + 1} LeNets, in single-LeNet trainings",
        (alone + grouped) / alone,
        "trainings",
        f"{iterations} iterations each, timed back to back",
    )


def bf16_training(rows: list[dict], iterations: int, group_size: int) -> None:
    """Mixed precision as a lever for many LeNets: bf16 autocast (AMX / AVX-512 BF16 on
    CPUs that have them) against fp32, one LeNet alone and ``group_size`` as one group.
    Measured only: the workflow trains in fp32, like the paper's baseline."""
    torch.set_num_threads(2)
    images, labels = fake_mnist(60_000)
    spec = SolverSettings(iterations=iterations, log_every=10**9)
    group_spec = SolverSettings(iterations=max(iterations // 4, 20), log_every=10**9)
    our_train_images_per_second(20, threads=2)  # warm-up
    seeds = list(range(group_size))
    rates = {}
    for precision in ("fp32", "bf16"):
        with torch.autocast(DEVICE.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            rates["alone", precision] = train(lenet(), images, labels, spec, seed=0, log=lambda _: None)["images_per_second"]
            group = LeNetGroup([lenet(seed) for seed in seeds]).to(DEVICE)
            rates["group", precision] = train_group(group, images, labels, group_spec, seeds, log=lambda _: None)["images_per_second"]
    note = f"{spec.iterations} iterations alone, {group_spec.iterations} as a group"
    for precision in ("fp32", "bf16"):
        record(rows, f"train {precision}: one LeNet alone, {where()}", rates["alone", precision], "images/s", note)
        record(rows, f"train {precision}: group of {group_size} LeNets, {where()} (aggregate)", rates["group", precision], "images/s", note)
    record(rows, "train bf16: one LeNet, speed-up over fp32", rates["alone", "bf16"] / rates["alone", "fp32"], "x")
    record(rows, f"train bf16: group of {group_size}, speed-up over one fp32 LeNet", rates["group", "bf16"] / rates["alone", "fp32"], "x")


def training_flops_per_image(batch_size: int = 64) -> float:
    """FLOPs of one LeNet training step (forward, loss, backward), counted by torch, per image."""
    model = lenet().train()
    images, labels = fake_mnist(batch_size)
    with FlopCounterMode(display=False) as counter:
        F.nll_loss(model(images.to(DEVICE)), labels.to(DEVICE)).backward()
    return counter.get_total_flops() / batch_size


def gemm_peak_flops(dtype: torch.dtype, repeats: int = 5) -> float:
    """Best FLOP/s of a square matrix product here: what large, well-shaped kernels reach."""
    best = 0.0
    for n in (1024, 2048, 4096):
        a, b = (torch.randn(n, n, device=DEVICE).to(dtype) for _ in range(2))
        for _ in range(2):  # warm-up
            a @ b
        synchronize()
        started = time.perf_counter()
        for _ in range(repeats):
            a @ b
        synchronize()
        best = max(best, 2 * n**3 * repeats / (time.perf_counter() - started))
    return best


def arithmetic_ceiling(rows: list[dict], iterations: int, models: int = 20, trainings: int = 6) -> None:
    """Whether ``models`` LeNets can train in ``trainings`` baseline trainings' wall time
    here: the FLOP rate that takes, against the GEMM peak and what one training sustains."""
    per_image = training_flops_per_image()
    our_train_images_per_second(20, threads=2)  # warm-up
    rate = our_train_images_per_second(iterations, threads=2)
    peak = gemm_peak_flops(torch.float32)
    sustained = rate * per_image
    needed = models / trainings * sustained
    record(rows, "ceiling: LeNet training FLOP per image (counted, batch 64)", per_image / 1e6, "MFLOP")
    record(rows, f"ceiling: fp32 GEMM peak (n = 1024-4096), {where()}", peak / 1e9, "GFLOP/s")
    record(rows, f"ceiling: bf16 GEMM peak (n = 1024-4096), {where()}", gemm_peak_flops(torch.bfloat16) / 1e9, "GFLOP/s")
    record(rows, f"ceiling: one LeNet training sustains, {where()}", sustained / 1e9, "GFLOP/s", f"{rate:,.0f} images/s, {iterations} iterations; {sustained / peak:.0%} of the fp32 GEMM peak")
    record(rows, f"ceiling: {models} LeNets in {trainings} trainings' time need", needed / 1e9, "GFLOP/s", f"{needed / peak:.2f}x the fp32 GEMM peak")


def per_level_gradient_sweep_seconds(model, images, labels, strengths, measured: int) -> float:
    """Eager, level by level, the gradient recomputed at every level (what attack libraries do)."""
    started = time.perf_counter()
    for eps in strengths[:measured]:
        for start in range(0, len(images), 1000):
            x, y = images[start : start + 1000].to(DEVICE), labels[start : start + 1000].to(DEVICE)
            adversarial = (x + eps * input_gradient(model, x, y)[0].sign()).clamp(0, 1)
            with torch.no_grad():
                model(adversarial).argmax(1).cpu()
    return (time.perf_counter() - started) * len(strengths) / measured


def level_by_level_sign_reuse_seconds(model, images, labels, sign, strengths, measured: int, batch: int) -> float:
    """Sign map computed once, but NCHW, autograd on (no_grad only) and small batches."""
    started = time.perf_counter()
    for eps in strengths[:measured]:
        with torch.no_grad():
            for start in range(0, len(images), batch):
                model(FGSM.perturb(images[start : start + batch], sign[start : start + batch], float(eps)).to(DEVICE)).argmax(1).cpu()
    return (time.perf_counter() - started) * len(strengths) / measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels-measured", type=positive_int, default=10, help="levels timed for the slow variants")
    parser.add_argument("--train-iterations", type=positive_int, default=300)
    parser.add_argument("--group-size", type=positive_int, default=19, help="LeNets in the grouped-training variant")
    parser.add_argument("--sections", nargs="+", choices=["train", "group", "bf16", "ceiling", "sweep", "cells"], default=["train", "group", "sweep"])
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="cpu", help="where the variants run (auto: CUDA when visible)")
    args = parser.parse_args()
    global DEVICE
    DEVICE = resolve_device(args.device)
    torch.set_num_threads(2)
    rows: list[dict] = []
    print(f"machine: {machine()}; torch {torch.__version__}; device {DEVICE}; {torch.get_num_threads()} CPU threads\n")
    if "train" in args.sections:
        training_variants(rows, args.train_iterations)
    if "group" in args.sections:
        grouped_training(rows, args.train_iterations, args.group_size)
    if "bf16" in args.sections:
        bf16_training(rows, args.train_iterations, args.group_size + 1)
    if "ceiling" in args.sections:
        arithmetic_ceiling(rows, args.train_iterations)
    if "sweep" in args.sections:
        sweep_variants(rows, args.levels_measured)
    if "cells" in args.sections:
        table2_cell_variants(rows)
    record(rows, "peak resident memory of this process", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MiB")
    append_rows(rows)


def training_variants(rows: list[dict], iterations: int) -> None:
    record(rows, f"train: eager NCHW torch.optim.SGD batch 64, {where()}", eager_train_images_per_second(iterations), "images/s")
    record(rows, f"train: ours (channels_last, Caffe SGD), {where()}", our_train_images_per_second(iterations, 2), "images/s")
    if DEVICE.type == "cpu":
        record(rows, "train: ours, 1 thread", our_train_images_per_second(iterations, 1), "images/s")
        record(rows, "train: ours, 2 models in parallel x 1 thread (aggregate)", parallel_train_images_per_second(iterations, 2), "images/s")
    torch.set_num_threads(2)


def sweep_variants(rows: list[dict], levels_measured: int) -> None:
    torch.set_num_threads(2)
    model = lenet()
    images, labels = fake_mnist(TEST_IMAGES, seed=1)
    strengths = noise_strengths(0.6, LEVELS)
    started = time.perf_counter()
    sign = gradient_sign(model, images.to(DEVICE), labels.to(DEVICE)).cpu()
    record(rows, "fgsm: sign map, 10k images (once per model)", time.perf_counter() - started, "s")
    scaled = f"timed on {levels_measured} levels, scaled to {LEVELS}"
    record(rows, "fgsm sweep: gradient per level, NCHW, batch 1000", per_level_gradient_sweep_seconds(model, images, labels, strengths, levels_measured), "s", scaled)
    record(rows, "fgsm sweep: sign reuse, NCHW, no_grad, batch 64", level_by_level_sign_reuse_seconds(model, images, labels, sign, strengths, levels_measured, 64), "s", scaled)
    record(rows, "fgsm sweep: sign reuse, NCHW, no_grad, batch 512", level_by_level_sign_reuse_seconds(model, images, labels, sign, strengths, levels_measured, 512), "s", scaled)
    for batch in (256, 512, 1024):
        started = time.perf_counter()
        sweep(lenet(), images, labels, "fgsm", strengths, sign=sign, batch_size=batch, log=lambda _: None)
        record(rows, f"fgsm sweep: ours (sign reuse, channels_last, inference_mode), batch {batch}", time.perf_counter() - started, "s", "all 100 levels")
    started = time.perf_counter()
    sweep(lenet(), images, labels, "gaussian", noise_strengths(1.0, LEVELS), batch_size=512, log=lambda _: None)
    record(rows, "gaussian sweep: ours, batch 512", time.perf_counter() - started, "s", "all 100 levels")


def table2_cell_variants(rows: list[dict]) -> None:
    """What one method's Table 2 cells cost: the 100-level sweep read at dist 0 / 0.1 / 0.2,
    against the strength found by bisection on dist and one evaluation per cell."""
    torch.set_num_threads(2)
    images, labels = fake_mnist(TEST_IMAGES, seed=1)
    sign = gradient_sign(lenet(), images.to(DEVICE), labels.to(DEVICE)).cpu()
    for noise, max_strength, extra in (("fgsm", 0.6, {"sign": sign}), ("gaussian", 1.0, {})):
        started = time.perf_counter()
        sweep(lenet(), images, labels, noise, noise_strengths(max_strength, LEVELS), log=lambda _: None, **extra)
        record(rows, f"table2 cells, {noise}: 100-level sweep, batch 512", time.perf_counter() - started, "s", "10k images")
        started = time.perf_counter()
        errors_at_dists(lenet(), images, labels, noise, [0.0, 0.1, 0.2], log=lambda _: None, **extra)
        record(rows, f"table2 cells, {noise}: bisection on dist + 3 evaluations", time.perf_counter() - started, "s", "10k images")


def append_rows(rows: list[dict]) -> None:
    stamp = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine(), "torch": torch.__version__, "device": DEVICE.type}
    new_file = not RESULTS.exists()
    with open(RESULTS, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*stamp, "benchmark", "value", "unit", "note"])
        if new_file:
            writer.writeheader()
        for row in rows:
            writer.writerow({**stamp, **row})
    print(f"\nappended {len(rows)} rows to {RESULTS}")


if __name__ == "__main__":
    main()
