"""Replicates, and the networks each reads.

Replicate k of the study trains every network again with seed + (k - 1) x
replicate_seed_step. Replicate 1 is the study itself, at paths without a replicate folder;
replicate k >= 2 lives under results/r<k>/. A replicate network that is the very network
of a configured model (same settings, same seed) is that model's checkpoint, trained
once: with the default step 6, the standard committee's replicates 2 and 3 are the human
study's LeNets lenet_seed7..18.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Mapping

from ..errors import ConfigError
from .names import parse_stage, placement_matters

# The {replicate} wildcard: '' or r2/, r3/, ... (r1/ is not a folder: replicate 1 has none).
_REPLICATE_NUMBER = r"[2-9]|[1-9][0-9]+"
REPLICATE_PATTERN = rf"(?:r(?:{_REPLICATE_NUMBER})/)?"
REPLICATE_DIR = re.compile(rf"^(?:r({_REPLICATE_NUMBER})/)?$")


def replicate_dir(replicate: int) -> str:
    """The path part of a replicate: '' for replicate 1, 'r<k>/' after it."""
    return "" if replicate == 1 else f"r{replicate}/"


def parse_replicate(prefix: str) -> int:
    """The replicate number of a path part made by :func:`replicate_dir`."""
    match = REPLICATE_DIR.match(prefix)
    if match is None:
        raise ConfigError(f"{prefix!r} is not a replicate folder (r2/, r3/, ...)")
    return 1 if match.group(1) is None else int(match.group(1))


def replicate_seed(config: Mapping, seed: int, replicate: int) -> int:
    return seed + (replicate - 1) * config["replicate_seed_step"]


@dataclasses.dataclass(frozen=True)
class Network:
    """A trained network as the workflow files it: a configured model, an adversarial stage
    or the DAE, in the replicate whose folder holds its checkpoint. Where that is on disk
    is the workflow's to say (common.smk); the config only says which network."""

    kind: str  # "model", "stage" or "dae"
    name: str  # the model's name, the stage's number, or "dae"
    replicate: int = 1

    def __str__(self) -> str:
        what = {"model": f"model {self.name}", "stage": f"adversarial stage {self.name}", "dae": "the DAE"}[self.kind]
        return what if self.replicate == 1 else f"{what} of replicate {self.replicate}"


@dataclasses.dataclass(frozen=True)
class ReplicateModel:
    """A configured model in one replicate: the model whose checkpoint it is (itself, or a
    configured model that is the very same network), its settings and that network."""

    name: str
    spec: dict
    network: Network


def trained_model_spec(config: Mapping, model: str) -> dict:
    """``models.<model>`` as it is trained: with the run's dropout placement where the
    placement changes the network (so that switching it retrains those models alone), and
    the run's sample order where it is not the default shuffle."""
    spec = copy.deepcopy(dict(config["models"][model]))
    if placement_matters(spec["dropout"]):
        spec["dropout_placement"] = config["dropout_placement"]
    return {**spec, **database_order(config)}


def database_order(config: Mapping) -> dict:
    """``{"sample_order": "database"}`` where the run reads MNIST in its stored order, else {}:
    the key enters a model's or the DAE's settings only when it changes them."""
    order = config["sample_order"]
    return {} if order == "shuffled" else {"sample_order": order}


def replicate_model(config: Mapping, model: str, replicate: int) -> ReplicateModel:
    models = config["models"]
    spec = trained_model_spec(config, model)
    if replicate > 1:
        spec["seed"] = replicate_seed(config, spec["seed"], replicate)
        if "sample_seed" in spec:
            spec["sample_seed"] = replicate_seed(config, spec["sample_seed"], replicate)
        for other in models:
            if trained_model_spec(config, other) == spec:
                return ReplicateModel(other, spec, Network("model", other))
    return ReplicateModel(model, spec, Network("model", model, replicate))


def replicate_dae_settings(config: Mapping, replicate: int) -> dict:
    settings = {**copy.deepcopy(dict(config["dae"])), **database_order(config)}
    settings["seed"] = replicate_seed(config, settings["seed"], replicate)
    return settings


def dae_network(replicate: int) -> Network:
    return Network("dae", "dae", replicate)


def member_network(config: Mapping, member: str, replicate: int = 1) -> Network:
    """The network a committee member or classifier reads in ``replicate``: a trained model
    (see :func:`replicate_model`) or an adversarial stage."""
    if member in config["models"]:
        return replicate_model(config, member, replicate).network
    stage = parse_stage(member, config["adversarial"]["stages"])
    if stage is None:
        raise ConfigError(
            f"unknown model {member!r}; configured models: {sorted(config['models'])} "
            f"and adv_stage1..adv_stage{config['adversarial']['stages']}"
        )
    return Network("stage", str(stage), replicate)


def method_networks(config: Mapping, name: str, replicate: int) -> list[Network]:
    """The networks a method reads in one replicate (its members, its DAE)."""
    spec = config["methods"][name]
    networks = [member_network(config, member, replicate) for member in spec["members"]]
    if spec["preprocess"] == "dae":
        networks.append(dae_network(replicate))
    return networks
