import json

from snakemake.utils import validate

from mnistrobust.errors import ConfigError
from mnistrobust.naming import (
    ATTACK_THREAT,
    check_method,
    check_noise,
    parse_stage,
    stage_model_name,
)

validate(config, schema="../schemas/config.schema.yaml")


def canonical(mapping):
    """Key-sorted copy: Snakemake compares params by value *and* key order, so a config
    file written with another key order must not look like changed params."""
    return json.loads(json.dumps(mapping, sort_keys=True))


def member_checkpoint(member):
    """Checkpoint of a committee member or classifier: a trained model or an adversarial stage."""
    if member in config["models"]:
        return f"results/models/{member}.pt"
    stage = parse_stage(member, config["adversarial"]["stages"])
    if stage is None:
        raise ConfigError(
            f"unknown model {member!r}; configured models: {sorted(config['models'])} "
            f"and adv_stage1..adv_stage{config['adversarial']['stages']}"
        )
    return f"results/adversarial/stage{stage}.pt"


def method_spec(name, noise=None):
    """The config entry of a method, checked (members, preprocessing, noise), or a clear error."""
    if name not in config["methods"]:
        raise ConfigError(f"unknown method {name!r}; configured methods: {sorted(config['methods'])}")
    spec = config["methods"][name]
    check_method(name, spec, config["lowpass"], noise)
    for member in spec["members"]:
        member_checkpoint(member)
    return canonical(spec)


def check_config():
    if config["baseline_method"] not in config["methods"]:
        raise ConfigError(
            f"config: baseline_method {config['baseline_method']!r} is not one of the "
            f"configured methods {sorted(config['methods'])}"
        )
    if config["adversarial"]["base_model"] not in config["models"]:
        raise ConfigError(
            f"config: adversarial.base_model {config['adversarial']['base_model']!r} is not a configured model"
        )
    if config["lowpass"]["calibration_model"] not in config["models"]:
        raise ConfigError(
            f"config: lowpass.calibration_model {config['lowpass']['calibration_model']!r} is not a configured model"
        )
    sizes = [entry["size"] for entry in config["lowpass"]["filters"]]
    if len(set(sizes)) != len(sizes):
        raise ConfigError(f"config: lowpass.filters repeats a size: {sizes}")
    for name in config["methods"]:
        method_spec(name)
    curves = list(config["table2"]["rows"])
    for figure in config["figures"]["curves"].values():
        curves.extend(figure["curves"])
    for curve in curves:
        method_spec(curve["method"], curve["noise"])


check_config()


def model_spec(wildcards):
    """The config entry of the {model} wildcard, or a clear error naming the bad name."""
    if wildcards.model not in config["models"]:
        raise ConfigError(f"unknown model {wildcards.model!r}; configured models: {sorted(config['models'])}")
    return canonical(config["models"][wildcards.model])


def checked_noise(wildcards):
    return check_noise(wildcards.noise)


def checked_stage(wildcards):
    stage = int(wildcards.stage)
    if not 1 <= stage <= config["adversarial"]["stages"]:
        raise ConfigError(f"adversarial stage {stage} does not exist; stages are 1..{config['adversarial']['stages']}")
    return stage


def stage_checkpoint(stage):
    """Checkpoint of the model after ``stage`` stages (stage 0: the base model)."""
    return member_checkpoint(stage_model_name(stage, config["adversarial"]["base_model"]))


def pool_inputs(wildcards):
    stage = checked_stage(wildcards)
    return {"data": "results/data/mnist.h5", "checkpoint": stage_checkpoint(stage - 1)}


def stage_inputs(wildcards):
    stage = checked_stage(wildcards)
    return {
        "data": "results/data/mnist.h5",
        "previous": stage_checkpoint(stage - 1),
        "pools": [f"results/adversarial/pool_stage{k}.h5" for k in range(1, stage + 1)],
    }


def method_inputs(wildcards):
    """Checkpoints a method needs: its members' and, for DAE preprocessing, the DAE's."""
    noise = getattr(wildcards, "noise", None)
    spec = method_spec(wildcards.method, noise)
    inputs = {"data": "results/data/mnist.h5", "members": [member_checkpoint(m) for m in spec["members"]]}
    if spec["preprocess"] == "dae":
        inputs["dae"] = "results/dae/dae.pt"
    return inputs


def sweep_inputs(wildcards):
    inputs = method_inputs(wildcards)
    if ATTACK_THREAT[checked_noise(wildcards)] is not None:
        inputs["sign_map"] = f"results/attacks/{wildcards.method}/{wildcards.noise}_sign.h5"
    return inputs


def sign_map_threat(wildcards):
    threat = ATTACK_THREAT[checked_noise(wildcards)]
    if threat is None:
        raise ConfigError(f"{wildcards.noise!r} is random noise; it has no gradient-sign map")
    return threat


def method_params(wildcards):
    return method_spec(wildcards.method, getattr(wildcards, "noise", None))


def curve_path(curve):
    return f"results/sweeps/{curve['method']}/{curve['noise']}.csv"


def figure_spec(wildcards):
    if wildcards.figure not in config["figures"]["curves"]:
        raise ConfigError(f"unknown figure {wildcards.figure!r}; configured: {sorted(config['figures']['curves'])}")
    return canonical(config["figures"]["curves"][wildcards.figure])


def figure_inputs(wildcards):
    return [curve_path(curve) for curve in figure_spec(wildcards)["curves"]]


def baseline_sweeps():
    method = config["baseline_method"]
    return {noise: f"results/sweeps/{method}/{noise}.csv" for noise in ("gaussian", "fgsm")}


def method_curves():
    """Every configured method under both noise types, plus the oblivious attack for the
    low-pass filters (DESIGN.md's two threat models; for a DAE it can be asked for
    as a target)."""
    curves = []
    for name, spec in config["methods"].items():
        noises = ["gaussian", "fgsm"]
        if spec["preprocess"].startswith("lowpass"):
            noises.append("fgsm_oblivious")
        curves.extend(curve_path({"method": name, "noise": noise}) for noise in noises)
    return curves


def final_outputs():
    return [
        "results/tables/table2.csv",
        "results/tables/table2.md",
        "results/tables/lowpass_clean_error.csv",
        "results/figures/fig1_noise_examples.png",
        *[f"results/figures/{figure}.png" for figure in config["figures"]["curves"]],
        *method_curves(),
    ]
