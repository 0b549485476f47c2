"""Evaluated methods: a classifier (one network or a committee) behind optional preprocessing.

A method is configured as ``{preprocess: none | dae | lowpass<size>, members: [model, ...]}``;
more than one member makes a committee that averages the members' softmax outputs.
Which network's gradient makes the FGSM examples is the *threat model*:

* ``end_to_end``: the whole method's gradient (through the preprocessing and, for a
  committee, through the averaged output);
* ``oblivious``: the gradient of the classifier alone, the preprocessing unseen by the
  attacker (only meaningful for methods with preprocessing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import nn

from .checkpoints import load_model
from .defenses import LowPassFilter
from .errors import CheckpointError, ConfigError
from .models import Committee, Stacked
from .naming import THREAT_MODELS, check_method, lowpass_filters, preprocess_names

def build_preprocess(preprocess: str, lowpass: Mapping, dae_checkpoint: str | None) -> nn.Module | None:
    if preprocess == "none":
        return None
    if preprocess == "dae":
        if dae_checkpoint is None:
            raise ConfigError("preprocess 'dae' needs the DAE checkpoint")
        dae, meta = load_model(dae_checkpoint)
        if meta["arch"] != "dae":
            raise CheckpointError(f"{dae_checkpoint} holds a {meta['arch']!r} network, not the DAE")
        return dae
    filters = lowpass_filters(lowpass)
    if preprocess not in filters:
        raise ConfigError(f"unknown preprocess {preprocess!r}; known: {preprocess_names(lowpass)}")
    kernel = filters[preprocess]
    return LowPassFilter(kernel["size"], kernel["variance"], lowpass["noise_sigma"], seed=lowpass["noise_seed"])


def build_method(
    name: str,
    spec: Mapping,
    member_checkpoints: Sequence[str],
    lowpass: Mapping,
    dae_checkpoint: str | None = None,
    threat: str = "end_to_end",
) -> nn.Module:
    """The network an evaluation classifies with (``end_to_end``) or the one an oblivious attacker differentiates."""
    if threat not in THREAT_MODELS:
        raise ConfigError(f"unknown threat model {threat!r}; known: {list(THREAT_MODELS)}")
    check_method(name, spec, lowpass)
    if len(member_checkpoints) != len(spec["members"]):
        raise ConfigError(f"method {name!r} has {len(spec['members'])} members but {len(member_checkpoints)} checkpoints")
    members = []
    for member, path in zip(spec["members"], member_checkpoints):
        model, meta = load_model(path)
        if meta.get("name") != member:
            raise CheckpointError(f"checkpoint {path} holds model {meta.get('name')!r}, expected member {member!r}")
        if meta["arch"] == "dae":
            raise CheckpointError(f"checkpoint {path} holds the DAE, which is not a classifier")
        members.append(model)
    classifier = members[0] if len(members) == 1 else Committee(members)
    preprocess = build_preprocess(spec.get("preprocess", "none"), lowpass, dae_checkpoint)
    if preprocess is None or threat == "oblivious":
        return classifier.eval()
    return Stacked(preprocess, classifier).eval()
