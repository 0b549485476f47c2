"""Every enum of the config schema names exactly the values the package implements, in one
order, and every noise has its names in the table and the figures: a name added on one
side only fails here, not in a user's run."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mnistrobust.attacks.catalog import ATTACK_NAMES
from mnistrobust.config import ATTACK_LOSSES, AUTOATTACK_VERSIONS, DROPOUT_PLACEMENTS, FAST_AT_METHODS, NOISES
from mnistrobust.data.sources import MNIST_FETCHERS, USPS_FETCHERS
from mnistrobust.human.stimuli import MODES
from mnistrobust.jobs.runtime import DEVICE_CHOICES
from mnistrobust.nets.defenses import KERNEL_SAMPLINGS
from mnistrobust.nets.models import ARCHITECTURES
from mnistrobust.reports.plots import NOISE_TITLES
from mnistrobust.reports.tables import NOISE_LABELS
from mnistrobust.training.dae import DAE_RECIPES
from mnistrobust.training.solver import SAMPLE_ORDERS

SCHEMA = yaml.safe_load((Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml").read_text())

# (path to the enum in the schema, the package's values); an arch enum lists the
# classifier architectures a config may train, a subset of the package's.
ENUMS = [
    ("definitions.noise", NOISES),
    ("properties.data.properties.mnist_sources.items", tuple(MNIST_FETCHERS)),
    ("properties.data.properties.usps_sources.items", tuple(USPS_FETCHERS)),
    ("properties.dropout_placement", DROPOUT_PLACEMENTS),
    ("properties.sample_order", SAMPLE_ORDERS),
    ("properties.dae.properties.recipe", tuple(DAE_RECIPES)),
    ("properties.lowpass.properties.sampling", KERNEL_SAMPLINGS),
    ("properties.methods.additionalProperties.properties.attack_loss", ATTACK_LOSSES),
    ("properties.human.properties.mode", MODES),
    ("properties.strong_attacks.properties.attacks.items", ATTACK_NAMES),
    ("properties.strong_attacks.properties.autoattack.properties.version", AUTOATTACK_VERSIONS),
    ("properties.strong_attacks.properties.fast_reference.properties.method", FAST_AT_METHODS),
    ("properties.device", DEVICE_CHOICES),
]


def schema_enum(path: str) -> tuple:
    node = SCHEMA
    for key in path.split("."):
        node = node[key]
    return tuple(node["enum"])


@pytest.mark.parametrize("path, values", ENUMS, ids=[path for path, _ in ENUMS])
def test_the_schema_enum_is_the_package_s_list(path, values):
    assert schema_enum(path) == tuple(values)


def test_every_enum_of_the_schema_is_held_here_or_is_an_architecture_or_filter_size():
    found = []

    def walk(node, path):
        if isinstance(node, dict):
            if "enum" in node:
                found.append(path)
            for key, child in node.items():
                walk(child, f"{path}.{key}" if path else key)

    walk(SCHEMA, "")
    held = {path for path, _ in ENUMS}
    others = [path for path in found if path not in held]
    assert all(path.endswith((".arch", ".size", ".enabled")) for path in others), others


def test_every_configurable_architecture_is_built_by_the_package():
    for path in ("properties.models.additionalProperties.properties.arch",
                 "properties.strong_attacks.properties.fast_reference.properties.arch"):
        assert set(schema_enum(path)) <= set(ARCHITECTURES)


def test_the_table_and_the_figures_name_every_noise():
    assert set(NOISE_LABELS) == set(NOISE_TITLES) == set(NOISES)
