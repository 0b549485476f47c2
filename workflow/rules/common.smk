import functools
import os
import sys
from types import SimpleNamespace

# The package's torch-free config module, straight from src/: parsing the workflow does
# not need the package installed (e.g. under --software-deployment-method conda).
sys.path.insert(0, os.path.join(workflow.basedir, "src"))

from mnistrobust.config import (  # noqa: E402
    ATTACK_THREAT,
    FAST_REFERENCE,
    REFERENCE_LABELS,
    REPLICATE_PATTERN,
    canonical,
    check_stage,
    check_noise,
    dae_network,
    member_network,
    method_noises,
    method_spec as configured_method_spec,
    parse_replicate,
    replicate_dae_settings,
    replicate_dir,
    replicate_method_spec,
    replicate_model,
    resolve_defense_files,
    stage_model_name,
    validate,
)
from mnistrobust.devices import strong_attacks_enabled  # noqa: E402
from mnistrobust.errors import ConfigError  # noqa: E402


def stop(error):
    """A user's mistake ends the run with its message alone: no traceback, no config dump."""
    sys.exit(f"Error: {error}")


try:
    resolve_defense_files(config, workflow.basedir)
    validate(config, os.path.join(workflow.basedir, "workflow", "schemas", "config.schema.yaml"))
    # Every section in one key order, once: rules pass config sections as params, and
    # Snakemake compares params by key order too.
    config.update(canonical(config))
    # Plug-in defenses run once here, before any job; where Snakemake runs without the
    # package's environment (no torch), each job's own build of its defense checks it.
    if any(spec.get("defense") is not None for spec in config["methods"].values()):
        try:
            from mnistrobust.nets.plugins import smoke_run_defenses
        except ModuleNotFoundError as missing:
            if missing.name != "torch":
                raise
            print(
                "plug-in defenses not smoke-run here: torch is not importable; each job checks its own",
                file=sys.stderr,
            )
        else:
            smoke_run_defenses(config)
except ConfigError as error:
    stop(error)


def readable(function):
    """An input or params function whose ConfigError stops the run with its message alone."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except ConfigError as error:
            stop(error)

    return wrapper


NAMED_TARGETS = {
    "all": "the default: everything of `paper`, the human study and the fast adversarial training reference (and `strong_attacks` when enabled)",
    "paper": "Table 2, the low-pass clean errors and Figures 1, 3-7",
    "strong_attacks": "the strong-attack table and figure (beyond the paper)",
}


def unknown_target(wildcards):
    """Input function of the catch-all rule: a word that is neither a rule nor a file."""
    named = "; ".join(f"{name}: {what}" for name, what in NAMED_TARGETS.items())
    stop(
        f"unknown target {wildcards.target!r}. Named targets: {named}. "
        "Or name an output file, e.g. results/tables/table2.csv or results/sweeps/lenet/fgsm.csv "
        "(targets go before --configfile/--config)."
    )


# {replicate} is '' for replicate 1 (the paper's single run, at results/) and 'r<k>/' for replicate k >= 2.
wildcard_constraints:
    replicate=REPLICATE_PATTERN,


REPLICATES = range(1, config["replicates"] + 1)
# The replicates whose curves are computed (config replicate_curves): all, or the first alone.
CURVE_REPLICATES = REPLICATES if config["replicate_curves"] else range(1, 2)


@readable
def replicate_of(wildcards):
    """The replicate number of a job (1 for the jobs of rules without a {replicate})."""
    replicate = parse_replicate(getattr(wildcards, "replicate", ""))
    if replicate > config["replicates"]:
        raise ConfigError(
            f"replicate {replicate} is not configured (replicates: {config['replicates']}); "
            f"add --config replicates={replicate}"
        )
    return replicate


# Where the workflow files what one job makes and others read (each pattern is its
# rule's output; the input functions below fill it in).
MNIST_H5 = "results/data/mnist.h5"
MODEL_CHECKPOINT = "results/{replicate}models/{model}.pt"
STAGE_CHECKPOINT = "results/{replicate}adversarial/stage{stage}.pt"
DAE_CHECKPOINT = "results/{replicate}dae/dae.pt"
POOL = "results/{replicate}adversarial/pool_stage{stage}.h5"
SIGN_MAP = "results/{replicate}attacks/{method}/{noise}_sign.h5"
SWEEP = "results/{replicate}sweeps/{method}/{noise}.csv"
TABLE2_CELLS = "results/{replicate}table2_cells/{method}/{noise}.csv"
TRANSFER_EXAMPLES = "results/strong_attacks/transfer/{source}.h5"
STRONG_RESULT = "results/strong_attacks/methods/{method}.csv"
# the CLI of the human study serves the subjects' file by default (a test holds them equal)
HUMAN_STIMULI = "results/human/{group}_stimuli.h5"


def checkpoint_path(network):
    """The checkpoint of a config.Network (a model, an adversarial stage or the DAE)."""
    folder = replicate_dir(network.replicate)
    if network.kind == "model":
        return MODEL_CHECKPOINT.format(replicate=folder, model=network.name)
    if network.kind == "stage":
        return STAGE_CHECKPOINT.format(replicate=folder, stage=network.name)
    return DAE_CHECKPOINT.format(replicate=folder)


def member_checkpoint(member, replicate=1):
    return checkpoint_path(member_network(config, member, replicate))


def method_spec(name, noise=None):
    return configured_method_spec(config, name, noise)


def training_groups():
    return config.get("training_groups", {})


def individually_trained_model():
    """Wildcard pattern of train_model's {model}: any model name except a training group's
    member (those come from their group's rule, so no file has two producing rules)."""
    grouped = [member for members in training_groups().values() for member in members]
    if not grouped:
        return "[^/]+"
    # The name must end where the member's does: the lookahead sees the rest of the path too.
    return "(?!(?:" + "|".join(sorted(grouped)) + ")(?![a-z0-9_]))[^/]+"


@readable
def model_spec(wildcards):
    """The config entry of the {model} wildcard, or a clear error naming the bad name."""
    if wildcards.model not in config["models"]:
        raise ConfigError(f"unknown model {wildcards.model!r}; configured models: {sorted(config['models'])}")
    return replicate_model(config, wildcards.model, replicate_of(wildcards)).spec


@readable
def group_specs(wildcards, members):
    """A training group's members' settings in the job's replicate."""
    return {member: replicate_model(config, member, replicate_of(wildcards)).spec for member in members}


@readable
def dae_settings(wildcards):
    return replicate_dae_settings(config, replicate_of(wildcards))


@readable
def checked_noise(wildcards):
    return check_noise(wildcards.noise)


@readable
def checked_stage(wildcards):
    return check_stage(int(wildcards.stage), config["adversarial"]["stages"])


def stage_checkpoint(stage, replicate):
    """Checkpoint of the model after ``stage`` stages (stage 0: the base model)."""
    return member_checkpoint(stage_model_name(stage, config["adversarial"]["base_model"]), replicate)


@readable
def pool_inputs(wildcards):
    stage = checked_stage(wildcards)
    return {"data": MNIST_H5, "checkpoint": stage_checkpoint(stage - 1, replicate_of(wildcards))}


@readable
def stage_inputs(wildcards):
    stage = checked_stage(wildcards)
    return {
        "data": MNIST_H5,
        "previous": stage_checkpoint(stage - 1, replicate_of(wildcards)),
        "pools": [POOL.format(replicate=wildcards.replicate, stage=k) for k in range(1, stage + 1)],
    }


@readable
def adversarial_settings(wildcards):
    """config adversarial, its base model named as the checkpoint of the job's replicate
    names it (another configured model when that is the same network)."""
    base = replicate_model(config, config["adversarial"]["base_model"], replicate_of(wildcards))
    return {**config["adversarial"], "base_model": base.name}


@readable
def method_inputs(wildcards):
    """Checkpoints a method needs: its members' and, for DAE preprocessing, the DAE's."""
    noise = getattr(wildcards, "noise", None)
    spec = method_spec(wildcards.method, noise)
    replicate = replicate_of(wildcards)
    inputs = {
        "data": MNIST_H5,
        "members": [member_checkpoint(m, replicate) for m in spec["members"]],
    }
    if spec["preprocess"] == "dae":
        inputs["dae"] = checkpoint_path(dae_network(replicate))
    if "defense" in spec:
        inputs["defense"] = spec["defense"]["file"]  # an edited defense reruns its jobs
    return inputs


@readable
def sweep_inputs(wildcards):
    inputs = method_inputs(wildcards)
    if ATTACK_THREAT[checked_noise(wildcards)] is not None:
        inputs["sign_map"] = SIGN_MAP.format(
            replicate=wildcards.replicate, method=wildcards.method, noise=wildcards.noise
        )
    return inputs


@readable
def cells_inputs(wildcards):
    """table2_cells' inputs: a replicate without curves makes its sign maps in the cells job
    itself (nothing else reads them), which saves one job's start-up per cell."""
    if replicate_of(wildcards) in CURVE_REPLICATES:
        return sweep_inputs(wildcards)
    return method_inputs(wildcards)


@readable
def sign_map_threat(wildcards):
    threat = ATTACK_THREAT[checked_noise(wildcards)]
    if threat is None:
        raise ConfigError(f"{wildcards.noise!r} is random noise; it has no gradient-sign map")
    return threat


@readable
def method_params(wildcards):
    noise = getattr(wildcards, "noise", None)
    return replicate_method_spec(config, wildcards.method, noise, replicate_of(wildcards))


def curve_path(curve, replicate=1):
    return SWEEP.format(replicate=replicate_dir(replicate), method=curve["method"], noise=curve["noise"])


def cells_path(row, replicate=1):
    return TABLE2_CELLS.format(replicate=replicate_dir(replicate), method=row["method"], noise=row["noise"])


def replicated(path_of, entries, replicates=REPLICATES):
    """``path_of(entry, replicate)`` of every entry, replicate 1's first, then replicate 2's, ..."""
    return [path_of(entry, replicate) for replicate in replicates for entry in entries]


@readable
def figure_spec(wildcards):
    if wildcards.figure not in config["figures"]["curves"]:
        raise ConfigError(f"unknown figure {wildcards.figure!r}; configured: {sorted(config['figures']['curves'])}")
    return config["figures"]["curves"][wildcards.figure]


@readable
def figure_inputs(wildcards):
    return replicated(curve_path, figure_spec(wildcards)["curves"], CURVE_REPLICATES)


def baseline_sign_map():
    """The baseline's own FGSM sign map (replicate 1), which Fig. 1 and the human study show."""
    return SIGN_MAP.format(replicate="", method=config["baseline_method"], noise="fgsm")


def baseline_sweeps():
    method = config["baseline_method"]
    return {noise: SWEEP.format(replicate="", method=method, noise=noise) for noise in ("gaussian", "fgsm")}


# --- Human study (workflow/rules/human.smk) -----------------------------------------------

HUMAN_STIMULUS_KEYS = (
    "mode",
    "seed",
    "natural_images",
    "images_per_level",
    "gaussian_sigmas",
    "fgsm_eps",
    "usps_per_digit",
    "usps_digit_size",
)


def human_stimulus_settings():
    """What the stimulus sets are drawn from (not the LeNets nor where answers go, so
    changing those redraws nothing)."""
    return {key: value for key, value in config["human"].items() if key in HUMAN_STIMULUS_KEYS}


@readable
def human_sets(wildcards):
    """The subjects' sets are counted (ids s01, s02, ...); the LeNets' sets are named by model."""
    if wildcards.group == "subjects":
        return config["human"]["subjects"]
    return list(config["human"]["lenet_models"])


def human_responses_if_any(wildcards):
    path = config["human"]["responses"]
    return [path] if os.path.exists(path) else []


def human_outputs():
    return [HUMAN_STIMULI.format(group="subjects"), "results/human/fig8_humans_vs_lenets.png"]


def method_curves():
    """Every configured method under each noise that applies to it (config.method_noises:
    the oblivious attack for preprocessing, BPDA for a non-differentiable plug-in;
    docs/design.md's threat models), in every replicate of CURVE_REPLICATES. So the paper target sweeps every
    configured method, not only those Table 2 and the figures name."""
    curves = [
        {"method": name, "noise": noise} for name, spec in config["methods"].items() for noise in method_noises(spec)
    ]
    return replicated(curve_path, curves, CURVE_REPLICATES)


def paper_outputs():
    """Table 2, the low-pass filters' clean errors and Figures 1, 3-7 (target `paper`)."""
    return [
        "results/tables/table2.csv",
        "results/tables/table2.md",
        "results/tables/lowpass_clean_error.csv",
        "results/figures/fig1_noise_examples.png",
        *[f"results/figures/{figure}.png" for figure in config["figures"]["curves"]],
        *method_curves(),
    ]


def final_outputs():
    return [*paper_outputs(), *human_outputs()]


# --- Stronger attacks (beyond the paper; workflow/rules/strong_attacks.smk) ---------------

REFERENCE_CHECKPOINTS = {name: f"results/strong_attacks/reference/{name}.pt" for name in REFERENCE_LABELS}


def strong_config():
    if "strong_attacks" not in config:
        stop("config has no strong_attacks section (see config.yaml)")
    return config["strong_attacks"]


def strong_settings():
    """The attack settings every strong-attack job shares (not 'enabled' nor the reference's
    training, so switching the target on or retraining the reference reruns nothing else)."""
    return {k: v for k, v in strong_config().items() if k not in ("enabled", "fast_reference")}


def strong_evaluate_mem_mb():
    """What one method's strong evaluation holds: on the CPU its resident memory grew about
    5 MB per (image, eps) row AutoAttack attacked, none of it returned before the job ended
    (14.1 GB for the fast-AT reference's 2,828 rows at the default 1,000 images;
    bench/README.md)."""
    settings = strong_config()
    return 2000 + 5 * settings["test_images"] * len(settings["eps"])


def strong_methods():
    """Every distinct Table 2 method, labelled by its first Table 2 row, then the reference."""
    labels = {}
    for row in config["table2"]["rows"]:
        labels.setdefault(row["method"], row["label"])
    labels.update(REFERENCE_LABELS)
    return labels


def strong_result(method):
    return STRONG_RESULT.format(method=method)


@readable
def strong_method_spec(wildcards):
    if wildcards.method in REFERENCE_LABELS:
        return {"members": [wildcards.method], "preprocess": "none"}
    return method_spec(wildcards.method)


@readable
def strong_method_inputs(wildcards):
    """A method's checkpoints (or the reference's) and the transfer examples it is scored on."""
    if wildcards.method in REFERENCE_LABELS:
        inputs = {"data": MNIST_H5, "members": [REFERENCE_CHECKPOINTS[wildcards.method]]}
    else:
        inputs = method_inputs(wildcards)
    inputs["transfer"] = [TRANSFER_EXAMPLES.format(source=source) for source in strong_transfer_sources(wildcards)]
    return inputs


@readable
def strong_transfer_sources(wildcards):
    if "transfer" not in strong_config()["attacks"]:
        return []
    return [s for s in strong_config()["transfer_sources"] if s != wildcards.method]


@readable
def strong_source_inputs(wildcards):
    if wildcards.source not in strong_config()["transfer_sources"]:
        raise ConfigError(
            f"{wildcards.source!r} is not a transfer source; configured: {strong_config()['transfer_sources']}"
        )
    return method_inputs(SimpleNamespace(method=wildcards.source))


@readable
def strong_source_spec(wildcards):
    return method_spec(wildcards.source)


def strong_outputs():
    """The extended table and figure; in the default target only when strong_attacks.enabled."""
    return [
        "results/tables/strong_attacks.csv",
        "results/tables/strong_attacks.md",
        "results/figures/strong_attacks_error_vs_eps.png",
    ]


def default_strong_outputs(wildcards):
    """The default target's strong part (an input function, so it runs only when the default
    target is asked for): the strong-attack table when enabled; else the fast adversarial
    training reference alone (a few minutes: its checkpoint records its clean error and its
    guard's PGD accuracy per epoch), the model the strong evaluation of a defense is
    measured against. Off by ``auto`` on the CPU, it says so in one line."""
    if "strong_attacks" not in config:
        return []
    if STRONG_ATTACKS_ON:
        return strong_outputs()
    if config["strong_attacks"]["enabled"] == "auto" and workflow.is_main_process:
        print(
            "strong_attacks: off on the CPU (enabled: auto). At full size its jobs took about 7 h "
            "on 2 CPU cores, most of it AutoAttack's; `snakemake strong_attacks` makes it here "
            "anyway (docs/strong-attacks.md).",
            file=sys.stderr,
        )
    return [REFERENCE_CHECKPOINTS[FAST_REFERENCE]]


def jobs_get_gpus():
    """Whether the run's resources give the strong evaluation's jobs a GPU: a cluster
    profile's set-resources (profiles/slurm: gpu: 1) or default-resources."""
    settings = workflow.resource_settings
    for resources in (settings.overwrite_resources.get("strong_evaluate"), settings.default_resources):
        try:
            gpus = resources["gpu"]
        except (KeyError, TypeError):
            continue
        gpus = getattr(gpus, "value", gpus)  # an int, or a snakemake Resource holding one
        if isinstance(gpus, (int, float)) and gpus > 0:
            return True
    return False


STRONG_ATTACKS_ON = "strong_attacks" in config and strong_attacks_enabled(
    config["strong_attacks"]["enabled"], config.get("device", "auto"), jobs_get_gpus()
)
