"""The configuration: names the workflow and the package share, the settings classes, and
every check of a config (the schema, then what a schema cannot say).

Torch-free and importable without the package installed (only the standard library and
jsonschema, which Snakemake itself needs), so the Snakefile can check a config in
milliseconds before any job starts, even under ``--software-deployment-method conda``.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .nets.placement import DROPOUT_PLACEMENTS, placement_matters

# --- Names --------------------------------------------------------------------------------

THREAT_MODELS = ("end_to_end", "oblivious", "bpda")
# Sweep noise name -> the threat model its examples come from (None: random noise).
# gaussian: random noise; fgsm: the method's own gradient sign; fgsm_oblivious: the
# gradient sign of the method's classifier without its preprocessing; fgsm_bpda: a
# non-differentiable plug-in defense's gradient with the identity for its transformation.
ATTACK_THREAT = {"gaussian": None, "fgsm": "end_to_end", "fgsm_oblivious": "oblivious", "fgsm_bpda": "bpda"}
NOISES = tuple(ATTACK_THREAT)

STAGE_NAME = re.compile(r"^adv_stage([1-9][0-9]*)$")

# The method and model name of the strong-attack table's reference row: fast adversarial
# training (Wong et al.), which holds under AutoAttack (docs/strong-attacks.md "References").
FAST_REFERENCE = "fast_at_reference"
REFERENCE_LABELS = {FAST_REFERENCE: "Fast adversarial training (reference)"}

# Attack names a configuration may ask for (config strong_attacks.attacks).
STRONG_ATTACK_NAMES = ("fgsm", "pgd", "eot_pgd", "square", "transfer", "autoattack")

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


def canonical(mapping: Any) -> Any:
    """Key-sorted copy: Snakemake compares params by value *and* key order, so a config
    file written with another key order must not look like changed params."""
    return json.loads(json.dumps(mapping, sort_keys=True))


# --- Settings classes ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PGDSettings:
    """L-inf PGD. The step is ``relative_step_size * eps / steps`` (2.5 eps / steps is the usual
    rule: enough to cross the ball and come back), unless ``step_size`` fixes it absolutely
    (Madry et al.'s training attack: 0.01 for eps 0.3)."""

    steps: int = 40
    restarts: int = 5
    relative_step_size: float = 2.5
    step_size: float | None = None
    random_start: bool = True

    def __post_init__(self):
        if not isinstance(self.steps, int) or self.steps < 1:
            raise ConfigError(f"PGD steps must be an integer >= 1, got {self.steps!r}")
        if not isinstance(self.restarts, int) or self.restarts < 1:
            raise ConfigError(f"PGD restarts must be an integer >= 1, got {self.restarts!r}")
        if not self.relative_step_size > 0:
            raise ConfigError(f"PGD relative_step_size must be positive, got {self.relative_step_size!r}")
        if self.step_size is not None and not self.step_size > 0:
            raise ConfigError(f"PGD step_size must be positive, got {self.step_size!r}")

    def step_for(self, eps):
        """The step for radius ``eps`` (a float, or a tensor of per-row radii)."""
        return self.step_size if self.step_size is not None else self.relative_step_size * eps / self.steps


@dataclasses.dataclass(frozen=True)
class SquareSettings:
    """L-inf Square attack (Andriushchenko et al. 2020): random search with square patches
    of +-eps, no gradients. ``p_init`` is the fraction of pixels the first patch covers
    (0.3 is the paper's MNIST value); it halves on their schedule as queries are spent."""

    queries: int = 1000
    p_init: float = 0.3

    def __post_init__(self):
        if not isinstance(self.queries, int) or self.queries < 1:
            raise ConfigError(f"Square queries must be an integer >= 1, got {self.queries!r}")
        if not 0 < self.p_init <= 1:
            raise ConfigError(f"Square p_init must be in (0, 1], got {self.p_init!r}")

    def side(self, query: int, height: int) -> int:
        """Patch side at ``query``: the schedule of the reference code, rescaled to the budget."""
        progress = int(query / self.queries * 10_000)
        boundaries = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)
        fraction = self.p_init / 2 ** sum(progress > boundary for boundary in boundaries)
        return min(max(round(math.sqrt(fraction * height * height)), 1), height - 1)


AUTOATTACK_VERSIONS = ("standard", "rand")


@dataclasses.dataclass(frozen=True)
class AutoAttackSettings:
    """AutoAttack (Croce & Hein 2020). ``standard``: APGD-CE, APGD-T, FAB-T, then Square,
    each on the points still robust; ``rand`` (used for every randomized method):
    APGD-CE and APGD-DLR with EOT over ``eot_samples`` draws. ``steps``: iterations of each
    gradient attack (100 in the paper); ``square_queries``: 5,000 in the paper."""

    version: str = "standard"
    steps: int = 100
    square_queries: int = 5000
    eot_samples: int = 20

    def __post_init__(self):
        if self.version not in AUTOATTACK_VERSIONS:
            raise ConfigError(
                f"strong_attacks.autoattack.version: unknown AutoAttack version {self.version!r}; "
                f"known: {list(AUTOATTACK_VERSIONS)}"
            )
        for name in ("steps", "square_queries", "eot_samples"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"strong_attacks.autoattack.{name} must be an integer >= 1, got {value!r}")


FAST_AT_METHODS = ("fgsm_rs", "n_fgsm")

# Step and noise radius per method, in units of eps, when the settings leave them unset.
DEFAULT_STEP_RATIO = {"fgsm_rs": 1.25, "n_fgsm": 1.0}
DEFAULT_NOISE_RATIO = {"fgsm_rs": 1.0, "n_fgsm": 2.0}


@dataclasses.dataclass(frozen=True)
class FastATSettings:
    """What fast adversarial training does (``training.fast_at``); ``step_ratio`` and
    ``noise_ratio`` (step and random-start radius in units of eps) default to the method's
    published values."""

    eps: float = 0.3
    method: str = "fgsm_rs"
    step_ratio: float | None = None
    noise_ratio: float | None = None
    attack_steps: int = 1
    epochs: int = 10
    batch_size: int = 100
    lr_max: float = 5e-3
    guard_images: int = 1000
    guard_steps: int = 10
    # Catastrophic overfitting drops PGD accuracy to near zero within an epoch, while
    # epoch-to-epoch noise under the cyclic learning rate is a few points: falling below
    # half of the best separates the two.
    collapse_fraction: float = 0.5
    seed: int = 1

    def __post_init__(self):
        if not 0 < self.eps <= 1:
            raise ConfigError(f"fast_at eps must lie in (0, 1] (images are in [0, 1]), got {self.eps!r}")
        if self.method not in FAST_AT_METHODS:
            raise ConfigError(f"fast_at method must be one of {', '.join(FAST_AT_METHODS)}, got {self.method!r}")
        for name in ("step_ratio", "noise_ratio"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ConfigError(f"fast_at {name} must be >= 0, got {value!r}")
        if self.method == "n_fgsm" and self.attack_steps != 1:
            raise ConfigError(f"fast_at attack_steps must be 1 with n_fgsm (a single step without projection), got {self.attack_steps!r}")
        for name in ("attack_steps", "epochs", "batch_size", "guard_images", "guard_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"fast_at {name} must be an integer >= 1, got {value!r}")
        if not self.lr_max > 0:
            raise ConfigError(f"fast_at lr_max must be positive, got {self.lr_max!r}")
        if not 0 <= self.collapse_fraction <= 1:
            raise ConfigError(f"fast_at collapse_fraction must lie in [0, 1], got {self.collapse_fraction!r}")

    @property
    def step(self) -> float:
        ratio = self.step_ratio if self.step_ratio is not None else DEFAULT_STEP_RATIO[self.method]
        return ratio * self.eps

    @property
    def attack_name(self) -> str:
        if self.method == "n_fgsm":
            return "N-FGSM"
        return "FGSM-RS" if self.attack_steps == 1 else f"PGD-{self.attack_steps}"

    @property
    def noise(self) -> float:
        ratio = self.noise_ratio if self.noise_ratio is not None else DEFAULT_NOISE_RATIO[self.method]
        return ratio * self.eps


def check_attack_names(names: Sequence[str]) -> list[str]:
    unknown = [name for name in names if name not in STRONG_ATTACK_NAMES]
    if unknown or not names:
        raise ConfigError(f"unknown attack name(s) {unknown or names!r}; known: {list(STRONG_ATTACK_NAMES)}")
    return list(names)


def check_eps(eps_values: Sequence[float]) -> list[float]:
    """Strictly positive eps values, ascending (the early-exit bookkeeping relies on the order)."""
    values = [float(eps) for eps in eps_values]
    if not values or any(not 0 < eps <= 1 for eps in values):
        raise ConfigError(f"attack eps must lie in (0, 1] (images are in [0, 1]), got {list(eps_values)}")
    if len(set(values)) != len(values):
        raise ConfigError(f"attack eps values repeat: {values}")
    return sorted(values)


@dataclasses.dataclass(frozen=True)
class StrongAttackSettings:
    """Config ``strong_attacks`` (everything but ``enabled`` and the reference model)."""

    eps: tuple[float, ...]
    sanity_eps: float
    sanity_min_error: float
    attacks: tuple[str, ...]
    pgd: PGDSettings
    square: SquareSettings
    autoattack: AutoAttackSettings
    eot_samples: int
    transfer_sources: tuple[str, ...]
    flag_tolerance_pct: float
    seed: int
    batch_size: int
    test_images: int
    # Run the costly attacks (CASCADED_ATTACKS) only on the (image, eps) rows every attack
    # before them left robust: the worst case is the same, at a fraction of the cost.
    cascade: bool = True

    @classmethod
    def from_config(cls, section: Mapping) -> StrongAttackSettings:
        def nested(kind, name):
            try:
                return kind(**section[name])
            except TypeError as exc:
                raise ConfigError(f"strong_attacks.{name}: {exc}") from exc

        try:
            settings = cls(
                eps=tuple(check_eps(section["eps"])),
                sanity_eps=float(section["sanity_eps"]),
                sanity_min_error=float(section["sanity_min_error"]),
                attacks=tuple(check_attack_names(section["attacks"])),
                pgd=nested(PGDSettings, "pgd"),
                square=nested(SquareSettings, "square"),
                autoattack=nested(AutoAttackSettings, "autoattack") if "autoattack" in section else AutoAttackSettings(),
                eot_samples=int(section["eot_samples"]),
                transfer_sources=tuple(section["transfer_sources"]),
                flag_tolerance_pct=float(section["flag_tolerance_pct"]),
                seed=int(section["seed"]),
                batch_size=int(section["batch_size"]),
                test_images=int(section["test_images"]),
                cascade=section.get("cascade", True),
            )
        except KeyError as exc:
            raise ConfigError(f"strong_attacks lacks setting {exc}") from exc
        check_eps([*settings.eps, settings.sanity_eps])
        if not isinstance(settings.cascade, bool):
            raise ConfigError(f"strong_attacks.cascade must be True or False, got {settings.cascade!r}")
        if settings.eot_samples < 1 or settings.batch_size < 1 or settings.test_images < 1:
            raise ConfigError(f"strong_attacks: eot_samples, batch_size and test_images must be >= 1: {settings}")
        if not 0 <= settings.sanity_min_error <= 1:
            raise ConfigError(
                f"strong_attacks.sanity_min_error must be a fraction in [0, 1], got {settings.sanity_min_error}"
            )
        return settings

    @property
    def all_eps(self) -> list[float]:
        """The reported eps values and the sanity eps, ascending."""
        return check_eps([*self.eps, self.sanity_eps])


def fast_reference_budget(fast: Mapping) -> str:
    """How the fast adversarial training reference was trained, for the table's title."""
    steps = fast.get("attack_steps", 1)
    if fast["method"] == "n_fgsm":
        attack = "N-FGSM"
    else:
        attack = "FGSM from a random start" if steps == 1 else f"PGD-{steps} from a random start"
    step = f"step {fast['step_ratio']:g} eps, " if fast.get("step_ratio") is not None else ""
    return (
        f"{'LeNet with ReLU after its convolutions' if fast['arch'] == 'lenet_relu' else 'LeNet'} fast-AT {fast['epochs']} epochs x batch {fast['batch_size']} ({attack}, eps {fast['eps']:g}, {step}"
        f"Adam cyclic lr up to {fast['lr_max']:g}; best epoch by PGD-{fast['guard_steps']} on "
        f"{fast['guard_images']} training images), from scratch"
    )


# --- Checks -------------------------------------------------------------------------------


PLUGIN_TRAITS = {"randomized": False, "differentiable": True}  # a plug-in class's declarations and defaults


@functools.lru_cache(maxsize=None)
def declared_traits(file: str, class_name: str) -> dict[str, bool]:
    """What a plug-in defense class declares in its own body (``randomized``,
    ``differentiable``; defaults where absent), read from its source without importing it:
    the DAG depends on them, and parsing the workflow needs no torch (nets/plugins.py)."""
    import ast

    path = Path(file)
    if not path.is_file():
        raise ConfigError(f"defense file {file!r} does not exist (paths are relative to the workflow's directory)")
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except SyntaxError as exc:
        raise ConfigError(f"defense file {file!r} failed to import: SyntaxError: {exc}") from None
    found = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == class_name]
    if not found:
        raise ConfigError(f"defense file {file!r} has no class {class_name!r}")
    traits = dict(PLUGIN_TRAITS)
    for statement in found[-1].body:
        if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant):
            for target in statement.targets:
                if isinstance(target, ast.Name) and target.id in traits:
                    traits[target.id] = bool(statement.value.value)
    return traits


def plugin_differentiable(spec: Mapping) -> bool:
    """False when the method's plug-in defense declares ``differentiable = False`` (nets/plugins.py)."""
    defense = spec.get("defense")
    return defense is None or declared_traits(defense["file"], defense["class"])["differentiable"]


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
    if spec.get("attack_loss", "averaged_output") != "averaged_output" and len(spec["members"]) < 2:
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


def schema_problems(config: Mapping, schema: Mapping) -> list[str]:
    """One line per schema violation: the key path, what is wrong, and what is allowed."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path]):
        problems.append(_describe_violation(error))
    return list(dict.fromkeys(problems))


def _key_path(parts) -> str:
    path = "config"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _describe_violation(error) -> str:
    where = _key_path(error.absolute_path)
    schema, value = error.schema, error.instance
    if error.validator == "additionalProperties" and isinstance(value, Mapping):
        allowed = sorted(schema.get("properties", {}))
        unknown = [key for key in value if key not in allowed]
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            if close:
                hints.append(f"did you mean {close[0]!r}?")
            elif "." in str(key):
                hints.append("--config sets top-level keys only; nest the value, e.g. --config 'evaluation={levels: 5}'")
        hint = f" ({'; '.join(hints)})" if hints else ""
        return f"{where}: unknown key(s) {', '.join(repr(k) for k in unknown)}{hint}; allowed: {', '.join(allowed)}"
    if error.validator == "required":
        return f"{where}: {error.message}"
    if error.validator == "enum":
        return f"{where}: {value!r} is not allowed; allowed: {', '.join(repr(v) for v in schema['enum'])}"
    if error.validator == "type":
        expected = schema["type"] if isinstance(schema["type"], str) else " or ".join(schema["type"])
        hint = ""
        if "boolean" in expected and str(value).lower() in ("true", "false"):
            # Snakemake's --config reads True and False as booleans, other spellings as text
            hint = f" (on the command line write {str(value).capitalize()})"
        return f"{where}: {value!r} is not of type {expected}{hint}"
    return f"{where}: {error.message}"


def fill_defaults(config: dict, schema: Mapping) -> None:
    """Top-level keys the schema gives a default for and the config leaves out."""
    for key, spec in schema.get("properties", {}).items():
        if "default" in spec and key not in config:
            config[key] = json.loads(json.dumps(spec["default"]))


def load_schema(path: str | Path) -> dict:
    import yaml

    return yaml.safe_load(Path(path).read_text())


def validate(config: dict, schema_path: str | Path) -> None:
    """Check ``config`` against the schema (one line per violation), fill its defaults,
    then run every cross-check the schema cannot express. Raises ConfigError."""
    schema = load_schema(schema_path)
    problems = schema_problems(config, schema)
    if problems:
        count = f"{len(problems)} problems" if len(problems) > 1 else "1 problem"
        raise ConfigError(f"the configuration has {count}:\n" + "\n".join(f"  {line}" for line in problems))
    fill_defaults(config, schema)
    cross_check(config)


def resolve_defense_files(config: Mapping, workflow_dir: str | Path) -> None:
    """A plug-in defense's relative path names a file in the working directory, or else one
    in the workflow's own directory (so ``examples/`` works from any ``--directory``)."""
    for spec in config.get("methods", {}).values():
        defense = spec.get("defense") if isinstance(spec, Mapping) else None
        if not isinstance(defense, dict) or not isinstance(defense.get("file"), str):
            continue  # the schema names what is wrong
        path = Path(defense["file"])
        if not path.is_absolute() and not path.exists() and (Path(workflow_dir) / path).exists():
            defense["file"] = str(Path(workflow_dir) / path)


def member_checkpoint(config: Mapping, member: str, replicate: int = 1) -> str:
    """Checkpoint path of a committee member or classifier in ``replicate``: a trained model
    (see :func:`replicate_model`) or an adversarial stage."""
    if member in config["models"]:
        return replicate_model(config, member, replicate).checkpoint
    stage = parse_stage(member, config["adversarial"]["stages"])
    if stage is None:
        raise ConfigError(
            f"unknown model {member!r}; configured models: {sorted(config['models'])} "
            f"and adv_stage1..adv_stage{config['adversarial']['stages']}"
        )
    return f"results/{replicate_dir(replicate)}adversarial/stage{stage}.pt"


# --- Replicates ---------------------------------------------------------------------------
# Replicate k of the study trains every network again with seed + (k - 1) x
# replicate_seed_step. Replicate 1 is today's study, at today's paths; replicate k >= 2
# lives under results/r<k>/. A replicate network that is the very network of a configured
# model (same settings, same seed) is that model's checkpoint, trained once: with the
# default step 6, the standard committee's replicates 2 and 3 are the human study's
# LeNets lenet_seed7..18.

# The {replicate} wildcard: '' or r2/, r3/, ... (r1/ is not a folder: replicate 1 has none).
_REPLICATE_NUMBER = r"[2-9]|[1-9][0-9]+"
REPLICATE_PATTERN = rf"(?:r(?:{_REPLICATE_NUMBER})/)?"
REPLICATE_DIR = re.compile(rf"^(?:r({_REPLICATE_NUMBER})/)?$")


def replicate_dir(replicate: int) -> str:
    """The path part of a replicate: '' for replicate 1 (today's paths), 'r<k>/' after it."""
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
class ReplicateModel:
    """A configured model in one replicate: the model whose checkpoint it is (itself, or a
    configured model that is the very same network), its settings and its checkpoint."""

    name: str
    spec: dict
    checkpoint: str


def trained_model_spec(config: Mapping, model: str) -> dict:
    """``models.<model>`` as it is trained: with the run's dropout placement where the
    placement changes the network (so that switching it retrains those models alone), and
    the run's sample order where it is not the default shuffle."""
    spec = canonical(config["models"][model])
    if placement_matters(spec["dropout"]):
        spec["dropout_placement"] = config.get("dropout_placement", DROPOUT_PLACEMENTS[0])
    return {**spec, **database_order(config)}


def database_order(config: Mapping) -> dict:
    """``{"sample_order": "database"}`` where the run reads MNIST in its stored order, else {}:
    the key enters a model's or the DAE's settings only when it changes them."""
    order = config.get("sample_order", "shuffled")
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
                return ReplicateModel(other, spec, f"results/models/{other}.pt")
    return ReplicateModel(model, spec, f"results/{replicate_dir(replicate)}models/{model}.pt")


def replicate_dae_settings(config: Mapping, replicate: int) -> dict:
    settings = {**canonical(config["dae"]), **database_order(config)}
    settings["seed"] = replicate_seed(config, settings["seed"], replicate)
    return settings


def dae_checkpoint(replicate: int) -> str:
    return f"results/{replicate_dir(replicate)}dae/dae.pt"


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


def method_networks(config: Mapping, name: str, replicate: int) -> list[str]:
    """The checkpoints a method reads in one replicate (its members', its DAE's)."""
    spec = config["methods"][name]
    networks = [member_checkpoint(config, member, replicate) for member in spec["members"]]
    if spec["preprocess"] == "dae":
        networks.append(dae_checkpoint(replicate))
    return networks


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


def method_spec(config: Mapping, name: str, noise: str | None = None) -> dict:
    """The config entry of a method, checked (members, preprocessing, noise), or a clear error."""
    if name not in config["methods"]:
        raise ConfigError(f"unknown method {name!r}; configured methods: {sorted(config['methods'])}")
    spec = config["methods"][name]
    check_method(name, spec, config["lowpass"], noise)
    for member in spec["members"]:
        member_checkpoint(config, member)
    return canonical(spec)


def _check_configured_model(config: Mapping, key: str, name: str | None) -> None:
    if name is not None and name not in config["models"]:
        raise ConfigError(f"config: {key} {name!r} is not a configured model; configured: {sorted(config['models'])}")


def _check_defense(config: Mapping, name: str, spec: Mapping) -> None:
    """Build the plug-in defense once in front of untrained members and run it on two images
    (a wrong output shape stops the run here, before any job). Skipped where Snakemake runs
    without torch (e.g. ``--software-deployment-method conda``): the job then checks it."""
    try:
        from .nets.models import Committee, build_model
        from .nets.plugins import inspect_defense
    except ImportError:
        return

    networks = []
    for member in spec["members"]:
        stage = parse_stage(member, config["adversarial"]["stages"])
        model = config["models"][config["adversarial"]["base_model"] if stage else member]
        networks.append(build_model(model["arch"], model["dropout"]))
    try:
        inspect_defense(spec["defense"], networks[0] if len(networks) == 1 else Committee(networks))
    except ConfigError as exc:
        raise ConfigError(f"method {name!r}: {exc}") from None


def cross_check(config: Mapping) -> None:
    """What the schema cannot express: names that must refer to configured things."""
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
    for name, spec in config["methods"].items():
        method_spec(config, name)
        if spec.get("defense") is not None:
            _check_defense(config, name, spec)
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


def _check_strong_attacks(config: Mapping) -> None:
    section = config["strong_attacks"]
    StrongAttackSettings.from_config(section)
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
