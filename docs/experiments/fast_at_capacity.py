"""Experiment behind docs/strong-attacks.md, "Fast adversarial training of the Caffe LeNet":
fast adversarial training at eps 0.3 on all 60,000 training images, then the clean error,
PGD-50 (one restart, step 0.01) and AutoAttack (standard) accuracy on the first 1,000 test
images, for one network:

    python docs/experiments/fast_at_capacity.py --data results/data/mnist.h5 --network wide
    python docs/experiments/fast_at_capacity.py --checkpoint results/strong_attacks/reference/fast_at_reference.pt

- ``lenet``: the Caffe LeNet (no nonlinearity between the input and the fully connected layer);
- ``lenet_relu``: the same with a ReLU after each convolution (the reference's default);
- ``wide``: lenet_relu twice as wide (conv 40 / 100, fc 1000), a capacity check.

About 10 minutes of one core per 10 epochs of the LeNet (the wide network about 4x that),
and 10-20 minutes for AutoAttack. ``--device cuda --chunk 1000`` runs it on a GPU (the
seeds of docs/strong-attacks.md "Seeds" ran as six such processes side by side on one
H200: docs/experiments/fast_at_seeds_gpu.sh); ``--json FILE`` writes the figures.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch import nn

from mnistrobust.attacks import PGD, AutoAttack
from mnistrobust.attacks.core import predictions
from mnistrobust.cli import non_negative_float, non_negative_int, positive_int
from mnistrobust.config import FAST_AT_METHODS, AutoAttackSettings, FastATSettings, PGDSettings
from mnistrobust.data import load_split
from mnistrobust.io.checkpoints import load_model
from mnistrobust.jobs.runtime import resolve_device
from mnistrobust.nets.models import LeNet
from mnistrobust.training.fast_at import fast_adversarial_training


def network(name: str, seed: int) -> nn.Module:
    model = LeNet(None, conv_relu=name != "lenet")
    if name == "wide":
        model.conv1, model.conv2 = nn.Conv2d(1, 40, 5), nn.Conv2d(40, 100, 5)
        model.ip1, model.ip2 = nn.Linear(1600, 1000), nn.Linear(1000, 10)
    model.reset_parameters(seed)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="results/data/mnist.h5")
    parser.add_argument("--network", choices=["lenet", "lenet_relu", "wide"], default="lenet_relu")
    parser.add_argument("--method", choices=list(FAST_AT_METHODS), default="fgsm_rs")
    parser.add_argument("--epochs", type=positive_int, default=10)
    parser.add_argument("--step-ratio", type=non_negative_float, default=None, help="FGSM step in units of eps (default: the method's)")
    parser.add_argument("--attack-steps", type=positive_int, default=1, help="signed-gradient steps per training batch (1: FGSM-RS)")
    parser.add_argument("--seed", type=non_negative_int, default=1)
    parser.add_argument("--threads", type=positive_int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--chunk", type=positive_int, default=100, help="images per AutoAttack call (larger on a GPU)")
    parser.add_argument("--json", default="", help="also write the figures to this file")
    parser.add_argument("--test-images", type=positive_int, default=1000, help="the first N test images are attacked")
    parser.add_argument("--checkpoint", default="", help="evaluate this trained model (e.g. the pipeline's) instead of training one")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    log = lambda line: print(line, flush=True)  # noqa: E731
    device = resolve_device(args.device)  # as the pipeline's jobs: on CUDA, float32 without TF32
    all_test_images, all_test_labels = load_split(args.data, "test")
    all_test_images, all_test_labels = all_test_images.to(device), all_test_labels.to(device)
    test_images, test_labels = all_test_images[: args.test_images], all_test_labels[: args.test_images]
    figures: dict = {"device": str(device), "test_images": len(test_images)}
    if args.checkpoint:
        model, meta = load_model(args.checkpoint)
        model = model.to(device).eval()
        figures.update(checkpoint=args.checkpoint, fast_training=meta.get("fast_training"), kept_epoch=meta.get("kept_epoch"))
    else:
        figures.update(network=args.network, method=args.method, step_ratio=args.step_ratio,
                       attack_steps=args.attack_steps, epochs=args.epochs, seed=args.seed)
        images, labels = load_split(args.data, "train")
        started = time.perf_counter()
        settings = FastATSettings(method=args.method, epochs=args.epochs, seed=args.seed, step_ratio=args.step_ratio, attack_steps=args.attack_steps)
        result = fast_adversarial_training(network(args.network, args.seed).to(device), images, labels, settings, log=log)
        figures.update(training_seconds=time.perf_counter() - started, kept_epoch=result.kept_epoch, collapsed=result.collapsed,
                       guard_pgd_acc=[entry["guard_pgd_acc"] for entry in result.history])
        log(f"training {figures['training_seconds']:.0f} s, kept epoch {result.kept_epoch}, collapsed {result.collapsed}")
        model = result.model.eval()
    figures["clean_error"] = (predictions(model, test_images) != test_labels).float().mean().item()
    figures["clean_error_all_test"] = (predictions(model, all_test_images) != all_test_labels).float().mean().item()
    log(f"clean error {figures['clean_error']:.2%} (all 10,000 test images: {figures['clean_error_all_test']:.2%})")
    pgd = PGD(PGDSettings(steps=50, restarts=1, step_size=0.01, random_start=True))
    examples = pgd.examples(model, test_images, test_labels, 0.3, torch.Generator().manual_seed(0))
    figures["pgd50_accuracy"] = (predictions(model, examples) == test_labels).float().mean().item()
    log(f"PGD-50 accuracy {figures['pgd50_accuracy']:.2%}")
    autoattack = AutoAttack(AutoAttackSettings(version="standard", steps=100, square_queries=5000, eot_samples=20), batch_size=500, log=log)
    # AutoAttack's components one after another on the points still robust, as it runs them,
    # with the robust accuracy after each: which component finds what PGD missed.
    robust = predictions(model, test_images) == test_labels
    figures["autoattack_after"] = {}
    for component in autoattack.components(model, 0.3, "standard"):
        started = time.perf_counter()
        index = robust.nonzero().squeeze(1)
        for start in range(0, len(index), args.chunk):
            part = index[start : start + args.chunk]
            examples = component(test_images[part], test_labels[part])
            robust[part] = predictions(model, examples) == test_labels[part]
        name, accuracy, seconds = type(component).__name__, robust.float().mean().item(), time.perf_counter() - started
        figures["autoattack_after"][name] = [accuracy, seconds]
        log(f"AutoAttack after {name}: robust accuracy {accuracy:.2%} ({seconds:.0f} s)")
    figures["autoattack_accuracy"] = robust.float().mean().item()
    log(f"AutoAttack accuracy {figures['autoattack_accuracy']:.2%}")
    if not args.checkpoint:
        log(json.dumps(result.history))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(figures, handle, indent=1)


if __name__ == "__main__":
    main()
