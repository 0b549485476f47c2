"""What the schema cannot express: names that must refer to configured things (members,
stages, sources), seeds that must be distinct, training groups and replicates."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import ConfigError
from .methods import method_spec
from .names import REFERENCE_LABELS
from .replicates import method_networks, replicate_model, trained_model_spec
from .settings import FastATSettings


def cross_check(config: Mapping) -> None:
    """Every cross-reference of a config the schema has accepted; raises ConfigError."""
    check_training_groups(config.get("training_groups", {}), config["models"])
    if config["baseline_method"] not in config["methods"]:
        raise ConfigError(
            f"config: baseline_method {config['baseline_method']!r} is not one of the "
            f"configured methods {sorted(config['methods'])}"
        )
    _check_configured_model(config, "adversarial.base_model", config["adversarial"]["base_model"])
    _check_configured_model(config, "lowpass.calibration_model", config["lowpass"]["calibration_model"])
    sizes = [entry["size"] for entry in config["lowpass"]["filters"]]
    if len(set(sizes)) != len(sizes):
        raise ConfigError(f"config: lowpass.filters repeats a size: {sizes}")
    for name in config["methods"]:
        method_spec(config, name)
    labels = [row["label"] for row in config["table2"]["rows"]]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ConfigError(f"config: table2.rows repeats the label(s) {repeated}; each row needs its own label")
    curves = [(f"table2.rows[{index}]", row) for index, row in enumerate(config["table2"]["rows"])]
    for name, figure in config["figures"]["curves"].items():
        curves.extend((f"figures.curves.{name}.curves[{index}]", curve) for index, curve in enumerate(figure["curves"]))
    for key, curve in curves:
        try:
            method_spec(config, curve["method"], curve["noise"])
        except ConfigError as exc:
            raise ConfigError(f"config: {key} ({curve['label']!r}): {exc}") from None
    unknown = [name for name in config["human"]["lenet_models"] if name not in config["models"]]
    if unknown:
        raise ConfigError(
            f"config: human.lenet_models names {unknown}, not configured models {sorted(config['models'])}"
        )
    if "strong_attacks" in config:
        _check_strong_attacks(config)
    check_replicates(config)


def _check_configured_model(config: Mapping, key: str, name: str | None) -> None:
    if name is not None and name not in config["models"]:
        raise ConfigError(f"config: {key} {name!r} is not a configured model; configured: {sorted(config['models'])}")


def _check_strong_attacks(config: Mapping) -> None:
    section = config["strong_attacks"]
    if section["sanity_eps"] <= max(section["eps"]):
        raise ConfigError(
            f"config: strong_attacks.sanity_eps {section['sanity_eps']} must exceed every eps {section['eps']}"
        )
    for source in section["transfer_sources"]:
        if source not in config["methods"]:
            raise ConfigError(
                f"config: strong_attacks.transfer_sources names {source!r}, not a configured method "
                f"{sorted(config['methods'])}"
            )
    try:
        FastATSettings(**{key: value for key, value in section["fast_reference"].items() if key != "arch"})
    except ConfigError as exc:
        raise ConfigError(f"config: strong_attacks.fast_reference: {exc}") from None
    for reserved, label in REFERENCE_LABELS.items():
        if reserved in config["methods"]:
            raise ConfigError(f"config: method name {reserved!r} is reserved for the row {label!r}")


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


def check_replicates(config: Mapping) -> None:
    """Replicates must be independent: no replicate of a method may read a network another
    of its replicates reads, and a replicate's seed may not be a configured model's seed
    unless it is that very model (then it is trained once)."""
    count = config.get("replicates", 1)
    if count == 1:
        return
    models = config["models"]
    for replicate in range(2, count + 1):
        for name in models:
            spec = replicate_model(config, name, replicate).spec
            for other in models:
                other_spec = trained_model_spec(config, other)
                same_family = other_spec["arch"] == spec["arch"] and other_spec["dropout"] == spec["dropout"]
                if other_spec["seed"] == spec["seed"] and same_family and other_spec != spec:
                    differing = sorted(key for key in spec if other_spec.get(key) != spec[key])
                    raise ConfigError(
                        f"config: replicates: {count} gives replicate {replicate} of model {name!r} seed {spec['seed']}, "
                        f"the seed of model {other!r}, which differs in {', '.join(differing)}; make them the same "
                        "network (it is then trained once) or change replicate_seed_step"
                    )
    for method in config["methods"]:
        seen: dict[str, int] = {}
        for replicate in range(1, count + 1):
            for network in method_networks(config, method, replicate):
                if seen.setdefault(network, replicate) != replicate:
                    raise ConfigError(
                        f"config: replicates: {count} with replicate_seed_step: {config['replicate_seed_step']} "
                        f"gives method {method!r} the network {network} in replicates {seen[network]} and "
                        f"{replicate}; replicates must be independent: raise replicate_seed_step"
                    )
