"""Names shared by the workflow and the package: noises, threat models, preprocessing and
adversarial-stage model names. Torch-free, so the Snakefile can import it cheaply."""

from __future__ import annotations

import re
from collections.abc import Mapping

from .errors import ConfigError

THREAT_MODELS = ("end_to_end", "oblivious")
# Sweep noise name -> the threat model its examples come from (None: random noise).
# gaussian: random noise; fgsm: the method's own gradient sign; fgsm_oblivious: the
# gradient sign of the method's classifier without its preprocessing.
ATTACK_THREAT = {"gaussian": None, "fgsm": "end_to_end", "fgsm_oblivious": "oblivious"}
NOISES = tuple(ATTACK_THREAT)

STAGE_NAME = re.compile(r"^adv_stage([1-9][0-9]*)$")


def check_noise(noise: str) -> str:
    if noise not in NOISES:
        raise ConfigError(f"unknown noise {noise!r}; known: {list(NOISES)}")
    return noise


def noise_kind(noise: str) -> str:
    """'gaussian' or 'fgsm': how the perturbation is made, whoever's gradient it uses."""
    return "gaussian" if check_noise(noise) == "gaussian" else "fgsm"


def stage_model_name(stage: int, base_model: str) -> str:
    """Name of the model after ``stage`` adversarial stages: the base model itself for stage 0."""
    return base_model if stage == 0 else f"adv_stage{stage}"


def parse_stage(name: str, stages: int) -> int | None:
    """The stage number of an ``adv_stageK`` name, None for other names; an out-of-range K is an error."""
    match = STAGE_NAME.match(name)
    if not match:
        return None
    stage = int(match.group(1))
    if stage > stages:
        raise ConfigError(f"{name!r}: adversarial training has stages 1..{stages} only (adversarial.stages)")
    return stage


def lowpass_filters(settings: Mapping) -> dict[str, dict]:
    """Preprocessing names (``lowpass3``, ...) of the configured low-pass filters."""
    return {f"lowpass{entry['size']}": dict(entry) for entry in settings["filters"]}


def preprocess_names(lowpass: Mapping) -> list[str]:
    return ["none", "dae", *lowpass_filters(lowpass)]


def check_method(name: str, spec: Mapping, lowpass: Mapping, noise: str | None = None) -> None:
    """A method's preprocessing is known, it has members, and ``noise`` (if given) applies to it."""
    preprocess = spec.get("preprocess", "none")
    if preprocess not in preprocess_names(lowpass):
        raise ConfigError(f"method {name!r}: unknown preprocess {preprocess!r}; known: {preprocess_names(lowpass)}")
    if not spec.get("members"):
        raise ConfigError(f"method {name!r} has no members")
    if noise is not None and ATTACK_THREAT[check_noise(noise)] == "oblivious" and preprocess == "none":
        raise ConfigError(f"method {name!r} has no preprocessing, so the oblivious attack {noise!r} is just 'fgsm'")


def check_training_groups(groups: Mapping[str, list], models: Mapping[str, Mapping]) -> None:
    """Each training group lists configured LeNets that differ only in their seed, and a
    model belongs to one group at most (a group is trained as one grouped network)."""
    owner: dict[str, str] = {}
    for group, members in groups.items():
        unknown = [member for member in members if member not in models]
        if unknown:
            raise ConfigError(f"training group {group!r}: unknown model(s) {unknown}; configured: {sorted(models)}")
        for member in members:
            if member in owner:
                raise ConfigError(f"model {member!r} is in training groups {owner[member]!r} and {group!r}")
            owner[member] = group
        specs = [models[member] for member in members]
        if any(spec["arch"] != "lenet" for spec in specs):
            raise ConfigError(f"training group {group!r}: only 'lenet' models can be trained as a group")
        shared = {(spec["iterations"], tuple(sorted(spec["dropout"].items()))) for spec in specs}
        if len(shared) != 1:
            raise ConfigError(
                f"training group {group!r}: members must share iterations and dropout, differing only in seed"
            )
        seeds = [spec["seed"] for spec in specs]
        if len(set(seeds)) != len(seeds):
            raise ConfigError(f"training group {group!r}: members repeat a seed: {seeds}")
