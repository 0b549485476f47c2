"""A configured method: the sweeps and threat models it gets, and its checked config entry."""

from __future__ import annotations

import copy
from collections.abc import Mapping

from ..errors import ConfigError
from .names import ATTACK_LOSSES, ATTACK_THREAT, attack_loss, check_noise, preprocess_names
from .plugin_traits import plugin_differentiable
from .replicates import member_network, replicate_model


def extra_threats(spec: Mapping) -> list[str]:
    """Threat models a method is attacked under besides end to end: ``oblivious`` when it has
    preprocessing or a non-differentiable plug-in, and ``bpda`` for the latter."""
    if not plugin_differentiable(spec):
        return ["oblivious", "bpda"]
    return ["oblivious"] if spec.get("preprocess", "none") != "none" else []


def method_noises(spec: Mapping) -> list[str]:
    """The sweeps a method gets: Gaussian noise, and FGSM under each threat model that
    applies. A non-differentiable plug-in has no plain FGSM sweep: its own gradient is zero
    almost everywhere, so that curve would stay at dist 0 (the strong table shows it)."""
    threats = extra_threats(spec)
    noises = ["gaussian"] if "bpda" in threats else ["gaussian", "fgsm"]
    return noises + [noise for noise, threat in ATTACK_THREAT.items() if threat in threats]


def check_method(name: str, spec: Mapping, lowpass: Mapping, noise: str | None = None) -> None:
    """A method's preprocessing is known, it has members, and ``noise`` (if given) applies to it."""
    preprocess = spec.get("preprocess", "none")
    if preprocess not in preprocess_names(lowpass):
        raise ConfigError(f"method {name!r}: unknown preprocess {preprocess!r}; known: {preprocess_names(lowpass)}")
    if not spec.get("members"):
        raise ConfigError(f"method {name!r} has no members")
    if attack_loss(spec) != ATTACK_LOSSES[0] and len(spec["members"]) < 2:
        raise ConfigError(f"method {name!r}: attack_loss is a committee's; it has one member")
    if spec.get("defense") is not None and preprocess != "none":
        raise ConfigError(f"method {name!r}: a plug-in defense takes preprocess: none (it may preprocess itself)")
    try:
        noises = method_noises(spec)
    except ConfigError as exc:
        raise ConfigError(f"method {name!r}: {exc}") from None
    if noise is None or check_noise(noise) in noises:
        return
    threat = ATTACK_THREAT[noise]
    if threat == "end_to_end":
        raise ConfigError(
            f"method {name!r}: its plug-in defense is not differentiable, so {noise!r} sees a zero gradient; "
            "use fgsm_bpda or fgsm_oblivious"
        )
    if threat == "bpda":
        raise ConfigError(f"method {name!r}: {noise!r} needs a plug-in defense declared differentiable = False")
    raise ConfigError(f"method {name!r} has no preprocessing, so the oblivious attack {noise!r} is just 'fgsm'")


def method_spec(config: Mapping, name: str, noise: str | None = None) -> dict:
    """The config entry of a method, checked (members, preprocessing, noise), or a clear error."""
    if name not in config["methods"]:
        raise ConfigError(f"unknown method {name!r}; configured methods: {sorted(config['methods'])}")
    spec = config["methods"][name]
    check_method(name, spec, config["lowpass"], noise)
    for member in spec["members"]:
        member_network(config, member)
    return copy.deepcopy(dict(spec))


def replicate_method_spec(config: Mapping, name: str, noise: str | None, replicate: int) -> dict:
    """:func:`method_spec` in ``replicate``: each member named by the model whose checkpoint it
    reads there (e.g. the committee's lenet_seed2 is lenet_seed8 in replicate 2), the name that
    checkpoint records."""
    spec = method_spec(config, name, noise)
    spec["members"] = [
        replicate_model(config, member, replicate).name if member in config["models"] else member
        for member in spec["members"]
    ]
    return spec
