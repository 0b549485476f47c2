"""The settings classes of the attacks and of fast adversarial training.

Built from the validated config, they trust what the schema (workflow/schemas/
config.schema.yaml) checks, and the command lines (bench/, docs/experiments/) check their
arguments with mnistrobust.cli's types; a class checks only what the schema cannot state.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

from ..errors import ConfigError


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

    def side(self, query: int, height: int) -> int:
        """Patch side at ``query``: the schedule of the reference code, rescaled to the budget."""
        progress = int(query / self.queries * 10_000)
        boundaries = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)
        fraction = self.p_init / 2 ** sum(progress > boundary for boundary in boundaries)
        return min(max(round(math.sqrt(fraction * height * height)), 1), height - 1)


# The schema's enum of strong_attacks.autoattack.version (tests/test_config.py holds them equal).
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
        # The schema cannot tie attack_steps to the method.
        if self.method == "n_fgsm" and self.attack_steps != 1:
            raise ConfigError(f"fast_at attack_steps must be 1 with n_fgsm (a single step without projection), got {self.attack_steps!r}")

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
        """The settings of a validated ``strong_attacks`` section (the schema checks its
        values, config.checks that sanity_eps exceeds every eps)."""
        return cls(
            eps=tuple(sorted(float(eps) for eps in section["eps"])),
            sanity_eps=float(section["sanity_eps"]),
            sanity_min_error=float(section["sanity_min_error"]),
            attacks=tuple(section["attacks"]),
            pgd=PGDSettings(**section["pgd"]),
            square=SquareSettings(**section["square"]),
            autoattack=AutoAttackSettings(**section["autoattack"]),
            eot_samples=int(section["eot_samples"]),
            transfer_sources=tuple(section["transfer_sources"]),
            flag_tolerance_pct=float(section["flag_tolerance_pct"]),
            seed=int(section["seed"]),
            batch_size=int(section["batch_size"]),
            test_images=int(section["test_images"]),
            cascade=section["cascade"],
        )

    @property
    def all_eps(self) -> list[float]:
        """The reported eps values and the sanity eps, ascending."""
        return check_eps([*self.eps, self.sanity_eps])


def fast_reference_budget(fast: Mapping) -> str:
    """How the fast adversarial training reference was trained, for the table's title."""
    settings = FastATSettings(**{key: value for key, value in fast.items() if key != "arch"})
    # FGSM-RS and N-FGSM name their random start; PGD-k starts at random too.
    attack = settings.attack_name if settings.attack_steps == 1 else f"{settings.attack_name} from a random start"
    step = f"step {settings.step_ratio:g} eps, " if settings.step_ratio is not None else ""
    network = "LeNet with ReLU after its convolutions" if fast["arch"] == "lenet_relu" else "LeNet"
    return (
        f"{network} fast-AT {settings.epochs} epochs x batch {settings.batch_size} ({attack}, eps {settings.eps:g}, "
        f"{step}Adam cyclic lr up to {settings.lr_max:g}; best epoch by "
        f"PGD-{settings.guard_steps} on {settings.guard_images} training images), from scratch"
    )
