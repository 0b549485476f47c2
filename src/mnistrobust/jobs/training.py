"""Jobs of workflow/rules/training.smk: train the classifiers (alone or in groups), the DAE,
the adversarial pools and stages, and save them as checkpoints."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from ..attacks.core import distortion, total_absolute_change
from ..config import check_training_groups, stage_model_name
from ..data import load_split
from ..errors import CheckpointError, DataError
from ..evaluation.sweeps import clean_error
from ..io.checkpoints import load_model, save_checkpoint
from ..io.hdf5 import load_pool, save_pool
from ..nets.models import LeNetGroup, build_model
from ..progress import Log
from ..training.adversarial import AdversarialSettings, generate_pool
from ..training.dae import AutoencoderSettings, denoising_metrics, train_autoencoder
from ..training.solver import SAMPLE_ORDERS, SolverSettings, checkpoint_meta, train, train_group


def train_checkpoint(
    data_h5: str,
    checkpoint: str,
    name: str,
    model_spec: dict,
    solver: dict,
    train_images: int,
    test_images: int,
    log: Log = print,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Train the configured network ``name`` and save it with its spec, seed and clean error."""
    images, labels = load_split(data_h5, "train", limit=train_images)
    test_x, test_y = load_split(data_h5, "test", limit=test_images)
    spec = SolverSettings(**{**solver, "iterations": model_spec["iterations"]})
    model = initialised_model(
        model_spec["arch"], model_spec["dropout"], model_spec["seed"], model_spec.get("dropout_placement")
    )
    log(f"training {name} on {device}: {model_spec}, {len(images)} images, {spec}")
    metrics = train(
        model.to(device), images, labels, spec, seed=model_spec["seed"], log=log,
        **batch_order(model_spec),
    )
    return save_trained(checkpoint, name, model_spec, spec, model.cpu(), metrics, len(images), test_x, test_y, log)


def batch_order(model_spec: dict) -> dict:
    """How a model's spec says it draws its batches, as :func:`train` takes it."""
    return {"sample_seed": model_spec.get("sample_seed"), "sample_order": model_spec.get("sample_order", SAMPLE_ORDERS[0])}


def initialised_model(
    arch: str, dropout: Mapping[str, float] | None, seed: int, placement: str | None = None
) -> nn.Module:
    """A new network of ``arch`` (on the CPU) with its weights initialised from ``seed``."""
    model = build_model(arch, dropout, placement)
    model.reset_parameters(seed)
    return model


def save_trained(
    checkpoint: str,
    name: str,
    model_spec: dict,
    spec: SolverSettings,
    model: nn.Module,
    metrics: dict,
    train_images: int,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    log: Log,
    **extra_meta,
) -> dict[str, float]:
    """Measure a trained classifier's clean test error (where ``model`` is) and save it, on the
    CPU, with how it was made (``extra_meta`` after the common fields); returns the metrics."""
    metrics = {**metrics, "clean_test_error": clean_error(model, test_x, test_y), "test_images": len(test_x)}
    log(f"{name}: clean test error {100 * metrics['clean_test_error']:.2f}% on {len(test_x)} images")
    meta = {**checkpoint_meta(name, model_spec, spec, train_images, metrics), **extra_meta}
    save_checkpoint(checkpoint, model.cpu().to(memory_format=torch.contiguous_format), meta)
    return metrics


def train_group_checkpoints(
    data_h5: str,
    checkpoints: Mapping[str, str],
    model_specs: Mapping[str, dict],
    solver: dict,
    train_images: int,
    test_images: int,
    log: Log = print,
    device: torch.device | str = "cpu",
) -> dict[str, dict[str, float]]:
    """Train the networks ``checkpoints`` names (LeNets differing only in seed) in one job and
    save each as the same checkpoint :func:`train_checkpoint` writes; returns each one's metrics.

    On CUDA they train at once as one :class:`LeNetGroup` (many small models fill a GPU
    that one batch-64 LeNet leaves idle). On the CPU they train one after another with
    :func:`train`, exactly as ``train_model`` would (bit-identical checkpoints): there the
    grouped kernels were measured slower than one model at a time (bench/README.md). There
    the job takes many minutes, so each member is kept as it finishes (see
    :func:`unfinished_member_path`) and a rerun of an interrupted job trains only the rest.
    """
    names = list(checkpoints)
    check_training_groups({"group": names}, model_specs)
    specs = [model_specs[name] for name in names]
    images, labels = load_split(data_h5, "train", limit=train_images)
    test_x, test_y = load_split(data_h5, "test", limit=test_images)
    spec = SolverSettings(**{**solver, "iterations": specs[0]["iterations"]})
    members = [
        initialised_model("lenet", spec["dropout"], spec["seed"], spec.get("dropout_placement")) for spec in specs
    ]
    grouped = torch.device(device).type == "cuda"
    how = "as one grouped network" if grouped else "one after another"
    log(f"training {len(names)} networks {how} on {device}: {names}, {len(images)} images, {spec}")
    group_meta = {"trained_in_group_of": len(names), "trained_as_grouped_network": grouped}
    if grouped:
        group = LeNetGroup(members).to(device)
        group_metrics = train_group(
            group, images, labels, spec, [s["seed"] for s in specs], log=log,
            sample_seeds=[s.get("sample_seed", s["seed"]) for s in specs],
            sample_order=batch_order(specs[0])["sample_order"],
        )
        for member, state in zip(members, group.member_state_dicts()):
            member.load_state_dict(state)
        return {
            name: save_trained(
                checkpoints[name], name, model_spec, spec, member, group_metrics, len(images), test_x, test_y, log,
                **group_meta,
            )
            for name, model_spec, member in zip(names, specs, members)
        }
    results = {}
    kept_paths = {name: unfinished_member_path(checkpoints[name]) for name in names}
    for name, model_spec, member in zip(names, specs, members):
        kept = kept_paths[name]
        meta = {**checkpoint_meta(name, model_spec, spec, len(images), {}), **group_meta}
        expected = {key: value for key, value in meta.items() if key != "metrics"}
        earlier = _member_kept_earlier(kept, expected, log)
        if earlier is not None:
            log(f"{name}: kept from an interrupted run of this job ({kept}), not trained again")
            results[name] = earlier
            continue
        log(f"training {name}")
        metrics = train(
            member, images, labels, spec, seed=model_spec["seed"], log=log,
            **batch_order(model_spec),
        )
        results[name] = save_trained(
            str(kept), name, model_spec, spec, member, metrics, len(images), test_x, test_y, log, **group_meta
        )
    for name, kept in kept_paths.items():
        os.replace(kept, checkpoints[name])
    try:
        kept_paths[names[0]].parent.rmdir()
    except OSError:  # another group's members are still kept there
        pass
    return results


def unfinished_member_path(checkpoint: str) -> Path:
    """Where a group job keeps a member it has finished before the whole job has: beside the
    job's outputs but not one of them, so that Snakemake, which deletes the outputs of an
    interrupted job before rerunning it, leaves it there. Moved to ``checkpoint`` at the end."""
    path = Path(checkpoint)
    return path.parent / "unfinished" / path.name


def _member_kept_earlier(path: Path, expected: dict, log: Log) -> dict | None:
    """The metrics of a member an interrupted run kept at ``path``, if it was made exactly as
    this run would make it (same name, seed, dropout, solver, data size); else None."""
    if not path.exists():
        return None
    try:
        _, meta = load_model(path)
    except CheckpointError as exc:
        log(f"not reusing {path}: {exc}")
        return None
    recorded = {key: meta.get(key) for key in expected}
    if recorded != expected:
        differing = sorted(key for key in expected if recorded[key] != expected[key])
        log(f"not reusing {path}: its {', '.join(differing)} differ from this job's")
        return None
    return meta["metrics"]


def train_dae_checkpoint(
    data_h5: str,
    checkpoint: str,
    settings: dict,
    train_images: int,
    test_images: int,
    log: Log = print,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Train the DAE (docs/design.md) and save it with its settings and test reconstruction errors."""
    spec = AutoencoderSettings(**settings)
    images, _ = load_split(data_h5, "train", limit=train_images)
    test_x, _ = load_split(data_h5, "test", limit=test_images)
    model = initialised_model(spec.arch, {"input": spec.input_dropout}, spec.seed)
    log(f"training the DAE on {device}: {spec}, {len(images)} images")
    metrics = train_autoencoder(model.to(device), images, spec, log=log)
    model.cpu()
    metrics.update(denoising_metrics(model, test_x))
    log(
        "DAE test MSE: clean input {test_mse_clean_input:.4f}; Gaussian sigma 0.3 input {test_mse_noisy_input:.4f} "
        "(the noisy images themselves: {test_mse_noisy_unreconstructed:.4f})".format(**metrics)
    )
    model_spec = {"arch": spec.arch, "dropout": {"input": spec.input_dropout}, "seed": spec.seed}
    meta = checkpoint_meta("dae", model_spec, spec, len(images), metrics)
    save_checkpoint(checkpoint, model, meta)
    return metrics


def make_pool(
    data_h5: str,
    checkpoint: str,
    output: str,
    stage: int,
    settings: dict,
    train_images: int,
    log: Log = print,
    device: torch.device | str = "cpu",
) -> None:
    """The pool of ``stage``: Eq. 3 examples of the training set from the model of stage - 1."""
    spec = AdversarialSettings(**settings)
    model, _, source = _previous_stage_model(checkpoint, stage, spec, "needs")
    images, labels = load_split(data_h5, "train", limit=train_images)
    examples = generate_pool(model.to(device), images, labels, spec.eps, spec.c, spec.batch_size, spec.gradient_batch)
    change = distortion(total_absolute_change(examples, images), len(images), images[0].numel())
    error = clean_error(model, examples, labels)
    log(
        f"stage {stage} pool from {source}: {len(examples)} examples, dist {change:.3f}, "
        f"source model's error on them {100 * error:.2f}%"
    )
    attrs = {**spec.pool_attrs(stage), "source_checkpoint": str(checkpoint), "dist": change, "source_error": error}
    save_pool(output, examples, labels, attrs)


def _previous_stage_model(
    checkpoint: str, stage: int, spec: AdversarialSettings, relation: str
) -> tuple[nn.Module, dict, str]:
    """The model of stage - 1 from ``checkpoint``, its metadata and its name; a checkpoint of
    another model is a DataError saying that stage ``stage`` ``relation`` (needs, continues) it."""
    model, meta = load_model(checkpoint)
    previous = stage_model_name(stage - 1, spec.base_model)
    if meta.get("name") != previous:
        raise DataError(
            f"checkpoint {checkpoint} holds model {meta.get('name')!r}; stage {stage} {relation} {previous!r}"
        )
    return model, meta, previous


def train_stage(
    data_h5: str,
    previous_checkpoint: str,
    pool_paths: Sequence[str],
    output: str,
    stage: int,
    settings: dict,
    solver: dict,
    base_iterations: int,
    train_images: int,
    test_images: int,
    log: Log = print,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Continue the model of stage - 1 on the natural set joined with the pools of stages
    1..stage (``pool_paths``, in that order; the rule's input function lists them)."""
    spec = AdversarialSettings(**settings)
    model, meta, previous = _previous_stage_model(previous_checkpoint, stage, spec, "continues")
    images, labels = load_split(data_h5, "train", limit=train_images)
    parts, part_labels = [images], [labels]
    for pool_stage, path in enumerate(pool_paths, start=1):
        pool, pool_labels = load_pool(path, spec.pool_attrs(pool_stage))
        if len(pool) != len(images):
            raise DataError(f"adversarial pool {path} holds {len(pool)} examples, the training set {len(images)}")
        parts.append(pool)
        part_labels.append(pool_labels)
    images, labels = torch.cat(parts), torch.cat(part_labels)
    solver_spec = SolverSettings(**{**solver, "iterations": spec.iterations_per_stage})
    start = spec.start_iteration(base_iterations, stage)
    seed = spec.stage_seed(int(meta["seed"]), stage)
    log(
        f"stage {stage}: continuing {previous} on {len(images)} images (natural + {stage} pool(s)), "
        f"iterations {start}..{start + spec.iterations_per_stage}"
    )
    metrics = train(model.to(device), images, labels, solver_spec, seed=seed, log=log, start_iteration=start)
    model.cpu()
    test_x, test_y = load_split(data_h5, "test", limit=test_images)
    metrics["clean_test_error"] = clean_error(model, test_x, test_y)
    log(f"adv_stage{stage}: clean test error {100 * metrics['clean_test_error']:.2f}% on {len(test_x)} images")
    model_spec = {"arch": meta["arch"], "dropout": meta["dropout"], "seed": seed}
    if "dropout_placement" in meta:
        model_spec["dropout_placement"] = meta["dropout_placement"]
    name = stage_model_name(stage, spec.base_model)
    stage_meta = checkpoint_meta(name, model_spec, solver_spec, len(images), metrics)
    stage_meta.update({"stage": stage, "parent": previous, "start_iteration": start, "eps": spec.eps, "c": spec.c})
    save_checkpoint(output, model.to(memory_format=torch.contiguous_format), stage_meta)
    return metrics
