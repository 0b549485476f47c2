"""PGD evaluation speed: ours against the Adversarial Robustness Toolbox (ART), in one run.

Same trained LeNet, same first 1,000 MNIST test images, L-inf eps 0.1 / 0.2 / 0.3, 40 steps
(step 2.5 eps / 40), 5 restarts with random start. ART runs its PGD once per eps (it keeps,
per image, the first restart that succeeds); ours runs all eps as one batch and stops an
(image, eps) row once it is fooled. Both report the error; rows are appended to
bench/results.csv with the same columns as bench/benchmark.py. Never a test:

    python bench/attack_benchmark.py [--checkpoint results/models/lenet.pt] [--data results/data/mnist.h5]

Section ``eot_batch`` times EOT-PGD (10 noise draws per step) of the noisy 5x5 low-pass
filter in front of the same LeNet (config.yaml's filter) with forward batches of 10,000
images (1,000 rows x 10 copies, the chunking before 2026-12-02) and of 1,000 images (the
strong_attacks default batch_size now counts images).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import yaml
from art.attacks.evasion import ProjectedGradientDescent
from art.estimators.classification import PyTorchClassifier

from benchmark import append_rows, machine, record
from mnistrobust.cli import positive_int
from mnistrobust.io.checkpoints import load_model
from mnistrobust.data import load_split
from mnistrobust.attacks import PGD
from mnistrobust.config import PGDSettings
from mnistrobust.nets.methods import build_preprocess
from mnistrobust.nets.models import Stacked

EPS = (0.1, 0.2, 0.3)


def art_pgd_errors(model, images, labels, settings: PGDSettings) -> list[float]:
    classifier = PyTorchClassifier(
        model=model, loss=torch.nn.NLLLoss(), input_shape=(1, 28, 28), nb_classes=10, clip_values=(0.0, 1.0), device_type="cpu"
    )
    errors = []
    for eps in EPS:
        attack = ProjectedGradientDescent(
            classifier, norm=np.inf, eps=eps, eps_step=settings.step_for(eps), max_iter=settings.steps,
            num_random_init=settings.restarts, batch_size=1000, verbose=False,
        )
        examples = attack.generate(images.numpy(), y=labels.numpy())
        errors.append(float((classifier.predict(examples, batch_size=1000).argmax(1) != labels.numpy()).mean()))
    return errors


def eot_batch_rows(model, images, labels, steps: int, config_path: str) -> list[dict]:
    """EOT-PGD of the noisy low-pass method, the same attack with two forward-batch sizes."""
    with open(config_path) as handle:
        lowpass = yaml.safe_load(handle)["lowpass"]
    method = Stacked(build_preprocess("lowpass5", lowpass), model).eval()
    settings, samples = PGDSettings(steps=steps, restarts=1), 10
    config = f"lowpass5 + {len(images)} images x eps {list(EPS)}, EOT-PGD {steps} steps, 1 restart, {samples} draws"
    rows: list[dict] = []
    for batch_images in (10_000, 1_000):
        started = time.perf_counter()
        errors = PGD(settings, seed=0, batch_size=batch_images, eot_samples=samples).white_box_outcome(method, images, labels, EPS).error()
        seconds = time.perf_counter() - started
        gradients = len(images) * len(EPS) * steps * samples  # every row runs all steps on a random defense
        note = f"{config}; error " + " / ".join(f"{100 * e:.1f}%" for e in errors)
        record(rows, f"eot-pgd eval: forward batches of {batch_images:,} images", gradients / seconds, "images/s", note)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="results/models/lenet.pt")
    parser.add_argument("--data", default="results/data/mnist.h5")
    parser.add_argument("--images", type=positive_int, default=1000)
    parser.add_argument("--steps", type=positive_int, default=40)
    parser.add_argument("--restarts", type=positive_int, default=5)
    parser.add_argument("--sections", default="pgd,eot_batch", help="comma-separated: pgd (ours vs ART), eot_batch")
    parser.add_argument("--eot-images", type=positive_int, default=200)
    parser.add_argument("--eot-steps", type=positive_int, default=10)
    parser.add_argument("--config", default="config.yaml", help="for the low-pass filter of section eot_batch")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    if sections - {"pgd", "eot_batch"}:
        parser.error(f"unknown section(s) {sorted(sections - {'pgd', 'eot_batch'})}")
    torch.set_num_threads(2)
    model, meta = load_model(args.checkpoint)
    images, labels = load_split(args.data, "test", limit=args.images)
    settings = PGDSettings(steps=args.steps, restarts=args.restarts)
    config = f"{meta['name']}, {len(images)} images, eps {list(EPS)}, {settings.steps} steps, {settings.restarts} restarts"
    print(f"machine: {machine()}; torch {torch.__version__}; {torch.get_num_threads()} threads; {config}\n")
    rows: list[dict] = []
    if "eot_batch" in sections:
        rows += eot_batch_rows(model, images[: args.eot_images], labels[: args.eot_images], args.eot_steps, args.config)
    if "pgd" in sections:
        rows += ours_against_art(model, images, labels, settings, config)
    append_rows(rows)


def ours_against_art(model, images, labels, settings: PGDSettings, config: str) -> list[dict]:
    rows: list[dict] = []
    started = time.perf_counter()
    ours = PGD(settings, seed=0, batch_size=1000).white_box_outcome(model, images, labels, EPS).error()
    ours_seconds = time.perf_counter() - started
    started = time.perf_counter()
    theirs = art_pgd_errors(model, images, labels, settings)
    art_seconds = time.perf_counter() - started

    errors = lambda values: "error " + " / ".join(f"{100 * e:.1f}%" for e in values)  # noqa: E731
    record(rows, "pgd eval: ours (multi-eps batch, early exit)", ours_seconds, "s", f"{config}; {errors(ours)}")
    record(rows, "pgd eval: ART 1.20.1 ProjectedGradientDescent", art_seconds, "s", f"{config}; {errors(theirs)}")
    record(rows, "pgd eval: speedup ours vs ART", art_seconds / ours_seconds, "x", config)
    return rows


if __name__ == "__main__":
    main()
