"""A user's own defense as a method: a Python file and a class name in ``config.yaml``.

The class is a ``torch.nn.Module`` built as ``Class(classifier, **options)`` (the method's
members, one network or a committee, untrained only when the config is checked) that
takes images in [0, 1] and returns logits or log-probabilities, N x 10. Two class
attributes declare what the attacks must know:

* ``randomized = True``: a fresh draw at every forward pass, so the strong evaluation uses
  EOT (EOT-PGD, AutoAttack's rand version);
* ``differentiable = False``: part of it has no useful gradient. The class then splits
  itself into ``transform(x)`` (the non-differentiable input transformation) and
  ``classify(z)``, with ``forward(x) == classify(transform(x))``. The attacks then add
  BPDA (Athalye et al. 2018: the identity as the transformation's gradient) and the
  oblivious attack (``classify``'s own gradient), next to the literal gradient.

docs/plugins.md shows the interface with the bit-depth example in ``examples/``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ..config import PLUGIN_TRAITS, declared_traits, parse_stage
from ..errors import ConfigError
from .models import Committee, build_model

IMAGE_SHAPE = (1, 28, 28)
CLASSES = 10


@dataclasses.dataclass(frozen=True)
class DefenseTraits:
    """What a defense class declares: the attacks a method with it gets depend on these."""

    randomized: bool
    differentiable: bool


def load_defense_class(file: str | Path, class_name: str) -> type[nn.Module]:
    """The class ``class_name`` of the Python file ``file`` (relative to the working directory)."""
    declared_traits(str(file), class_name)  # the file exists, parses and defines the class
    path = Path(file)
    # One module per file path, so two defenses may both live in files named defense.py.
    module_name = f"mnistrobust_plugin_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a user's file may fail in any way; say where, in one line
        raise ConfigError(f"defense file {str(file)!r} failed to import: {type(exc).__name__}: {exc}") from None
    sys.modules[module_name] = module
    found = getattr(module, class_name, None)
    if not (isinstance(found, type) and issubclass(found, nn.Module)):
        raise ConfigError(f"{class_name!r} in {str(file)!r} is not a torch.nn.Module class")
    return found


def traits_of(defense_class: type[nn.Module]) -> DefenseTraits:
    """The class's declarations; a non-differentiable class must offer transform and classify."""
    traits = DefenseTraits(**{name: bool(getattr(defense_class, name, default)) for name, default in PLUGIN_TRAITS.items()})
    if not traits.differentiable:
        missing = [name for name in ("transform", "classify") if not callable(getattr(defense_class, name, None))]
        if missing:
            raise ConfigError(
                f"{defense_class.__name__!r} declares differentiable = False but lacks {' and '.join(missing)}(); "
                "BPDA needs forward(x) == classify(transform(x))"
            )
    return traits


def instantiate(defense_class: type[nn.Module], classifier: nn.Module, options: Mapping) -> nn.Module:
    try:
        return defense_class(classifier, **dict(options))
    except Exception as exc:
        raise ConfigError(f"{defense_class.__name__}(classifier, **{dict(options)}) failed: {type(exc).__name__}: {exc}") from None


def _checked_class(defense: Mapping) -> tuple[type[nn.Module], DefenseTraits]:
    """The configured defense's class and traits; the traits must be those its class body
    declares (``config.declared_traits``, what the workflow's DAG was built from)."""
    defense_class = load_defense_class(defense["file"], defense["class"])
    traits = traits_of(defense_class)
    if dataclasses.asdict(traits) != declared_traits(defense["file"], defense["class"]):
        raise ConfigError(
            f"{defense['class']!r} inherits randomized or differentiable; declare them in its own class body"
        )
    return defense_class, traits


def _run_once(defense_class: type[nn.Module], defense: Mapping, classifier: nn.Module) -> None:
    """Build the defense and run it on two blank images: (2, 10) logits, or a ConfigError."""
    network = instantiate(defense_class, classifier, defense.get("options", {})).eval()
    try:
        with torch.no_grad():
            output = network(torch.zeros(2, *IMAGE_SHAPE))
    except Exception as exc:
        raise ConfigError(f"{defense['class']!r} failed on a batch of 2 images: {type(exc).__name__}: {exc}") from None
    if not isinstance(output, torch.Tensor) or tuple(output.shape) != (2, CLASSES):
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise ConfigError(f"{defense['class']!r} returns {shape} for 2 images; a defense must return (N, {CLASSES}) logits")


def inspect_defense(defense: Mapping, classifier: nn.Module) -> DefenseTraits:
    """Load, build and run the configured defense once on two blank images in front of
    ``classifier`` (untrained is enough): its traits, or a ConfigError naming the problem."""
    defense_class, traits = _checked_class(defense)
    _run_once(defense_class, defense, classifier)
    return traits


class PluginMethod(nn.Module):
    """A user's defense as the pipeline sees every method: log-probabilities.

    ``log_softmax`` turns logits into log-probabilities and leaves log-probabilities as they are.
    ``threat`` picks the network an attacker differentiates: the defense itself
    (``end_to_end``), its classifier alone (``oblivious``), or the defense with the
    identity as its transformation's gradient (``bpda``); all three classify the same.
    """

    def __init__(self, defense: nn.Module, threat: str = "end_to_end"):
        super().__init__()
        self.defense, self.threat = defense, threat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.threat == "end_to_end":
            return F.log_softmax(self.defense(x), dim=1)
        if self.threat == "oblivious":
            return F.log_softmax(self.defense.classify(x), dim=1)
        # Straight-through: transform(x) forward, the identity backward.
        transformed = x + (self.defense.transform(x) - x).detach()
        return F.log_softmax(self.defense.classify(transformed), dim=1)

    def extra_repr(self) -> str:
        return f"threat={self.threat}"


def build_plugin(defense: Mapping, classifier: nn.Module, threat: str) -> nn.Module:
    """The configured defense in front of the method's loaded ``classifier``, checked as the
    workflow's smoke run checks it, so that a job run without that check (Snakemake without
    torch) stops with the same one line. The check runs on a separate instance: its forward
    pass leaves the returned defense's random state as built."""
    defense_class, traits = _checked_class(defense)
    if threat != "end_to_end" and traits.differentiable:
        raise ConfigError(f"the {threat} attack needs a defense with differentiable = False; {defense['class']!r} is differentiable")
    _run_once(defense_class, defense, classifier)
    return PluginMethod(instantiate(defense_class, classifier, defense.get("options", {})), threat).eval()


def smoke_run_defenses(config: Mapping) -> None:
    """Build each method's plug-in defense in front of untrained members and run it on two
    images (:func:`inspect_defense`), so that a class that fails to import, to build or to
    return (N, 10) stops the run before any job; the config must have passed
    ``config.validate``. Raises ConfigError naming the method."""
    for name, spec in config["methods"].items():
        if spec.get("defense") is None:
            continue
        networks = []
        for member in spec["members"]:
            stage = parse_stage(member, config["adversarial"]["stages"])
            model = config["models"][config["adversarial"]["base_model"] if stage else member]
            networks.append(build_model(model["arch"], model["dropout"]))
        try:
            inspect_defense(spec["defense"], networks[0] if len(networks) == 1 else Committee(networks))
        except ConfigError as exc:
            raise ConfigError(f"method {name!r}: {exc}") from None
