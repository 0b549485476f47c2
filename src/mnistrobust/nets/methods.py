"""Evaluated methods: a classifier (one network or a committee) behind optional preprocessing.

A method is configured as ``{preprocess: none | dae | lowpass<size>, members: [model, ...]}``;
more than one member makes a committee that averages the members' softmax outputs. A
``defense: {file, class, options}`` entry puts a user's own module in front of the members
(``nets/plugins.py``).
Which network's gradient makes the attack's examples is the *threat model*:

* ``end_to_end``: the whole method's gradient (through the preprocessing and, for a
  committee, through the averaged output);
* ``oblivious``: the gradient of the classifier alone, the preprocessing unseen by the
  attacker (only meaningful for methods with preprocessing);
* ``bpda``: a non-differentiable plug-in's gradient with the identity for its transformation.

An attacker's committee (``attacker=True``) differentiates the log of its averaged output,
or, with the method's ``attack_loss: mean_member_loss``, the mean of its members' losses.

The networks come in loaded (``mnistrobust.io.checkpoints.load_model``): this module
builds, it does not read files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from ..config import THREAT_MODELS, attack_loss, check_method, lowpass_filters, preprocess_names
from ..errors import CheckpointError, ConfigError
from .defenses import DAE_HIDDEN_UNITS, LowPassFilter
from .models import Committee, MeanMemberLoss, Stacked
from .plugins import build_plugin

Loaded = tuple[nn.Module, Mapping[str, Any]]  # a network and its checkpoint metadata


def build_preprocess(preprocess: str, lowpass: Mapping, dae: Loaded | None = None) -> nn.Module | None:
    """The preprocessing network of ``preprocess``: None, the loaded DAE, or a low-pass filter."""
    if preprocess == "none":
        return None
    if preprocess == "dae":
        if dae is None:
            raise ConfigError("preprocess 'dae' needs the DAE checkpoint")
        model, meta = dae
        if meta["arch"] not in DAE_HIDDEN_UNITS:
            raise CheckpointError(f"{meta.get('checkpoint', 'the DAE checkpoint')} holds a {meta['arch']!r} network, not the DAE")
        return model
    filters = lowpass_filters(lowpass)
    if preprocess not in filters:
        raise ConfigError(f"unknown preprocess {preprocess!r}; known: {preprocess_names(lowpass)}")
    kernel = filters[preprocess]
    return LowPassFilter(
        kernel["size"], kernel["variance"], lowpass["noise_sigma"], seed=lowpass["noise_seed"],
        sampling=lowpass["sampling"],
    )


def build_method(
    name: str,
    spec: Mapping,
    members: Sequence[Loaded],
    lowpass: Mapping,
    dae: Loaded | None = None,
    threat: str = "end_to_end",
    attacker: bool = False,
) -> nn.Module:
    """The network an evaluation classifies with (``end_to_end``) or the one an oblivious
    attacker differentiates; ``members`` are the loaded members in the order of ``spec``.
    ``attacker``: the network whose gradient an attack takes, which differs from the
    scored one only for a committee with ``attack_loss: mean_member_loss``."""
    if threat not in THREAT_MODELS:
        raise ConfigError(f"unknown threat model {threat!r}; known: {list(THREAT_MODELS)}")
    check_method(name, spec, lowpass)
    if len(members) != len(spec["members"]):
        raise ConfigError(f"method {name!r} has {len(spec['members'])} members but {len(members)} checkpoints")
    networks = []
    for member, (model, meta) in zip(spec["members"], members):
        if meta.get("name") != member:
            where = meta.get("checkpoint", "a checkpoint")
            raise CheckpointError(f"{where} holds model {meta.get('name')!r}, expected member {member!r}")
        if meta["arch"] in DAE_HIDDEN_UNITS:
            raise CheckpointError(f"{meta.get('checkpoint', 'a checkpoint')} holds the DAE, which is not a classifier")
        networks.append(model)
    if len(networks) == 1:
        classifier = networks[0]
    elif attacker and attack_loss(spec) == "mean_member_loss":
        classifier = MeanMemberLoss(networks)
    else:
        classifier = Committee(networks)
    if spec.get("defense") is not None:
        return build_plugin(spec["defense"], classifier.eval(), threat)
    if threat == "bpda":
        raise ConfigError(f"method {name!r}: the bpda threat model needs a plug-in defense")
    preprocess = build_preprocess(spec.get("preprocess", "none"), lowpass, dae)
    if preprocess is None or threat == "oblivious":
        return classifier.eval()
    return Stacked(preprocess, classifier).eval()
