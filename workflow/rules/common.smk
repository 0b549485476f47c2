import json

from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")

NOISES = ["gaussian", "fgsm"]


def check_config():
    if config["baseline_model"] not in config["models"]:
        raise ValueError(
            f"config: baseline_model {config['baseline_model']!r} is not one of the "
            f"configured models {sorted(config['models'])}"
        )


check_config()


def canonical(mapping):
    """Key-sorted copy: Snakemake compares params by value *and* key order, so a config
    file written with another key order must not look like changed params."""
    return json.loads(json.dumps(mapping, sort_keys=True))


def model_spec(wildcards):
    """The config entry of the {model} wildcard, or a clear error naming the bad name."""
    if wildcards.model not in config["models"]:
        raise ValueError(f"unknown model {wildcards.model!r}; configured models: {sorted(config['models'])}")
    return canonical(config["models"][wildcards.model])


def checked_noise(wildcards):
    if wildcards.noise not in NOISES:
        raise ValueError(f"unknown noise {wildcards.noise!r}; known noises: {NOISES}")
    return wildcards.noise


def checkpoint_path(wildcards):
    model_spec(wildcards)
    return f"results/models/{wildcards.model}.pt"


def sweep_inputs(wildcards):
    inputs = {"data": "results/data/mnist.h5", "checkpoint": checkpoint_path(wildcards)}
    if checked_noise(wildcards) == "fgsm":
        inputs["sign_map"] = f"results/attacks/{wildcards.model}/fgsm_sign.h5"
    return inputs


def baseline_sweeps():
    model = config["baseline_model"]
    return {noise: f"results/sweeps/{model}/{noise}.csv" for noise in NOISES}


def final_outputs():
    return [
        "results/tables/table2.csv",
        "results/tables/table2.md",
        "results/figures/fig1_noise_examples.png",
        "results/figures/baseline_error_vs_dist.png",
    ]
