"""Names the config, the workflow and the package share: noises and threat models,
adversarial stages, preprocessing, dropout placements, and the reference row."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError

THREAT_MODELS = ("end_to_end", "oblivious", "bpda")
# Sweep noise name -> the threat model its examples come from (None: random noise).
# gaussian: random noise; fgsm: the method's own gradient sign; fgsm_oblivious: the
# gradient sign of the method's classifier without its preprocessing; fgsm_bpda: a
# non-differentiable plug-in defense's gradient with the identity for its transformation.
ATTACK_THREAT = {"gaussian": None, "fgsm": "end_to_end", "fgsm_oblivious": "oblivious", "fgsm_bpda": "bpda"}
NOISES = tuple(ATTACK_THREAT)

# A committee's loss under the gradient-sign attack (methods.<name>.attack_loss, the schema's
# enum): averaged_output, the NLL of its averaged softmax (the committee as deployed), is the
# default; mean_member_loss, the mean of its members' NLLs (pycaffe's averaged data gradients).
ATTACK_LOSSES = ("averaged_output", "mean_member_loss")


def attack_loss(spec: Mapping) -> str:
    """The loss an attack on the method ``spec`` follows."""
    return spec.get("attack_loss", ATTACK_LOSSES[0])


STAGE_NAME = re.compile(r"^adv_stage([1-9][0-9]*)$")

# The method and model name of the strong-attack table's reference row: fast adversarial
# training (Wong et al.), which holds under AutoAttack (docs/strong-attacks.md "References").
FAST_REFERENCE = "fast_at_reference"
REFERENCE_LABELS = {FAST_REFERENCE: "Fast adversarial training (reference)"}

# Where Table 1's dropout acts in a LeNet (docs/design.md "Dropout placement"). caffe: each
# site on the blob of its name, as an in-place Dropout layer does in a prototxt: data,
# conv1 and conv2 before their pooling, ip1 after its ReLU, ip2 (the logits) before the
# softmax loss. after_pooling: conv1 and conv2 after their pooling, and full and output
# both on ip1's 500 units (the only reading before the choice existed).
DROPOUT_PLACEMENTS = ("caffe", "after_pooling")
# What a checkpoint that records no placement was trained with.
LEGACY_DROPOUT_PLACEMENT = "after_pooling"
# The sites whose position depends on the placement (input dropout acts on data in both).
PLACED_DROPOUT_SITES = ("conv1", "conv2", "full", "output")


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


def check_stage(stage: int, stages: int) -> int:
    """``stage`` if adversarial training (``stages`` stages) has it, else the one error."""
    if not 1 <= stage <= stages:
        raise ConfigError(f"adversarial stage {stage} does not exist; stages are 1..{stages} (adversarial.stages)")
    return stage


def parse_stage(name: str, stages: int) -> int | None:
    """The stage number of an ``adv_stageK`` name, None for other names; an out-of-range K is an error."""
    match = STAGE_NAME.match(name)
    if not match:
        return None
    try:
        return check_stage(int(match.group(1)), stages)
    except ConfigError as exc:
        raise ConfigError(f"{name!r}: {exc}") from None


def lowpass_filters(settings: Mapping) -> dict[str, dict]:
    """Preprocessing names (``lowpass3``, ...) of the configured low-pass filters."""
    return {f"lowpass{entry['size']}": dict(entry) for entry in settings["filters"]}


def preprocess_names(lowpass: Mapping) -> list[str]:
    return ["none", "dae", *lowpass_filters(lowpass)]


def placement_matters(dropout: Mapping[str, float] | None) -> bool:
    """Whether a LeNet with ``dropout`` trains differently under the two placements."""
    return any((dropout or {}).get(site, 0.0) > 0 for site in PLACED_DROPOUT_SITES)


def canonical(mapping: Any) -> Any:
    """Key-sorted copy: Snakemake compares params by value *and* key order, so a config
    file written with another key order must not look like changed params."""
    return json.loads(json.dumps(mapping, sort_keys=True))
