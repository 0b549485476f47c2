"""A user's own defense as a method (nets/plugins.py, config ``methods.<name>.defense``):
the bit-depth example under the attacks, BPDA against its masked gradient, and the
problems a plug-in can have, each stopped before any job with a line naming it (by
``config.validate`` where its source tells, else by the smoke run the Snakefile calls)."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import torch
import yaml

from conftest import REPO, SNAKEMAKE, dry_run, small_config_with, snakemake_command
from mnistrobust.config import StrongAttackSettings, declared_traits, extra_threats, method_noises, validate
from mnistrobust.errors import ConfigError
from mnistrobust.evaluation.strong import evaluate_networks
from mnistrobust.nets.methods import build_method
from mnistrobust.nets.models import LeNet
from mnistrobust.nets.plugins import build_plugin, smoke_run_defenses
from mnistrobust.reports.strong import check_flags

from model_support import LOWPASS_SECTION, STRONG_ATTACKS_SECTION, labelled_by, zero_bias_linear_classifier

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
EXAMPLE = {"file": str(REPO / "examples" / "bit_depth.py"), "class": "BitDepthReduction", "options": {"bits": 1}}
SPEC = {"preprocess": "none", "members": ["lenet"], "defense": EXAMPLE}
LOWPASS = {**LOWPASS_SECTION, "filters": LOWPASS_SECTION["filters"][1:], "noise_sigma": 0.0}


def bit_depth_method(classifier, threat="end_to_end"):
    return build_method("bitdepth", SPEC, [(classifier, {"name": "lenet", "arch": "lenet"})], LOWPASS, threat=threat)


def test_the_example_classifies_through_its_squeezed_input_under_every_threat_model():
    classifier = zero_bias_linear_classifier(3)
    x = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    squeezed = (x >= 0.5).float()
    expected = classifier(squeezed)
    for threat in ("end_to_end", "bpda"):
        assert torch.allclose(bit_depth_method(classifier, threat)(x), expected, atol=1e-6)
    # Oblivious: the classifier alone, on the unsqueezed input.
    assert torch.allclose(bit_depth_method(classifier, "oblivious")(x), classifier(x), atol=1e-6)
    assert extra_threats(SPEC) == ["oblivious", "bpda"]
    assert method_noises(SPEC) == ["gaussian", "fgsm_oblivious", "fgsm_bpda"]  # no plain FGSM: a zero gradient


def test_the_literal_gradient_is_zero_and_bpda_passes_the_classifiers_gradient():
    classifier = zero_bias_linear_classifier(3)
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(1)).requires_grad_()
    y = torch.zeros(4, dtype=torch.long)
    (grad,) = torch.autograd.grad(bit_depth_method(classifier)(x).gather(1, y[:, None]).sum(), x)
    assert (grad == 0).all()
    (bpda,) = torch.autograd.grad(bit_depth_method(classifier, "bpda")(x).gather(1, y[:, None]).sum(), x)
    assert bpda.abs().sum() > 0


def test_bpda_and_square_find_what_fgsm_and_pgd_miss_and_the_flags_say_so():
    network = bit_depth_method(zero_bias_linear_classifier(6))
    x, _ = labelled_by(network, n=24, seed=6)
    x = 0.5 + (x - 0.5) * 0.4  # every pixel within 0.2 of the rounding threshold
    y = network(x).argmax(1)  # clean error 0 by construction
    section = {**STRONG_ATTACKS_SECTION, "eps": [0.1, 0.25], "attacks": ["fgsm", "pgd", "square"], "square": {"queries": 40, "p_init": 0.3}}
    attacked = {threat: bit_depth_method(network.defense.classifier, threat) for threat in extra_threats(SPEC)}
    # Every attack on every row: Square, on its own, beats PGD by far.
    settings = StrongAttackSettings.from_config({**section, "cascade": False})
    table = evaluate_networks("bitdepth", network, attacked, x, y, settings, {}, log=lambda _: None)
    errors = table[table["eps"] == 0.1].set_index("attack")["error"]
    assert errors["fgsm"] == 0  # a zero gradient moves nothing; PGD only what its random starts find
    assert errors["pgd_bpda"] > errors["pgd"] + 0.3
    assert errors["square"] > errors["pgd"] + 0.1
    flags = "; ".join(check_flags(errors.to_dict(), 0.1, settings))
    assert "pgd_bpda stronger than pgd" in flags and "masked gradients" in flags
    # The cascade: BPDA has fooled what Square would, so only the BPDA flag says so.
    settings = StrongAttackSettings.from_config(section)
    table = evaluate_networks("bitdepth", network, attacked, x, y, settings, {}, log=lambda _: None)
    at_eps = table[table["eps"] == 0.1].set_index("attack")
    errors, added = at_eps["error"].to_dict(), at_eps["added"].to_dict()
    assert errors["pgd_bpda"] > errors["pgd"] + 0.3 and errors["robust"] == errors["square"] >= errors["pgd_bpda"]
    assert "pgd_bpda stronger than pgd" in "; ".join(check_flags(errors, 0.1, settings, added))


def _config_with_defense(tmp_path, source: str | None, defense: dict | None = None) -> dict:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    if source is not None:
        (tmp_path / "mine.py").write_text(source)
    config["methods"]["mine"] = {"preprocess": "none", "members": ["lenet"], "defense": defense or {"file": str(tmp_path / "mine.py"), "class": "Mine"}}
    return copy.deepcopy(config)


GOOD = """
import torch
from torch import nn
class Mine(nn.Module):
    def __init__(self, classifier):
        super().__init__()
        self.classifier = classifier
    def forward(self, x):
        return self.classifier(x)
"""


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (None, "defense file '{tmp}/mine.py' does not exist"),
        ("import nosuchmodule\nclass Mine:\n    pass\n", "failed to import: ModuleNotFoundError"),
        ("class Mine(\n", "failed to import: SyntaxError"),
        (GOOD.replace("class Mine(nn.Module):", "class Base(nn.Module):\n    randomized = True\nclass Mine(Base):"), "inherits randomized or differentiable"),
        ("Other = 1\n", "has no class 'Mine'"),
        ("class Mine:\n    pass\n", "'Mine' in '{tmp}/mine.py' is not a torch.nn.Module class"),
        (GOOD.replace("return self.classifier(x)", "return self.classifier(x)[:, :5]"), "returns (2, 5) for 2 images"),
        (GOOD.replace("def __init__(self, classifier):", "def __init__(self, classifier, width):"), "Mine(classifier, **{{}}) failed: TypeError"),
        (GOOD.replace("class Mine(nn.Module):", "class Mine(nn.Module):\n    differentiable = False"), "lacks transform and classify"),
    ],
)
def test_a_bad_plugin_is_named_in_one_line(tmp_path, source, message):
    config = _config_with_defense(tmp_path, None if source is None else source)
    if source is None:
        (tmp_path / "mine.py").unlink(missing_ok=True)
    with pytest.raises(ConfigError) as error:
        validate(config, SCHEMA)
        smoke_run_defenses(config)
    text = str(error.value)
    assert text.startswith("method 'mine': ") and message.format(tmp=tmp_path) in text
    assert "\n" not in text and "Traceback" not in text


def test_a_good_plugin_passes_and_gets_the_plain_sweeps(tmp_path):
    config = _config_with_defense(tmp_path, GOOD)
    validate(config, SCHEMA)
    smoke_run_defenses(config)
    assert method_noises(config["methods"]["mine"]) == ["gaussian", "fgsm"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"preprocess": "lowpass5"}, "a plug-in defense takes preprocess: none"),
    ],
)
def test_a_plugin_with_preprocessing_is_refused(tmp_path, change, message):
    config = _config_with_defense(tmp_path, GOOD)
    config["methods"]["mine"].update(change)
    with pytest.raises(ConfigError, match=message):
        validate(config, SCHEMA)


def test_rows_that_ask_a_plugin_for_the_wrong_attack_are_named():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["table2"]["rows"].append({"label": "y", "method": "bitdepth1_lenet", "noise": "fgsm"})
    with pytest.raises(ConfigError, match=r"table2.rows\[14\] \('y'\): method 'bitdepth1_lenet': its plug-in defense is not differentiable"):
        validate(config, SCHEMA)
    config["table2"]["rows"][-1] = {"label": "y", "method": "lenet", "noise": "fgsm_bpda"}
    with pytest.raises(ConfigError, match="needs a plug-in defense declared differentiable = False"):
        validate(config, SCHEMA)


def test_the_declared_traits_are_read_without_importing_the_file(tmp_path):
    """Parsing the workflow builds the DAG from them, so it needs no torch (conda deployment)."""
    (tmp_path / "mine.py").write_text("import nosuchmodule\nclass Mine(object):\n    differentiable = False\n    randomized = True\n")
    assert declared_traits(str(tmp_path / "mine.py"), "Mine") == {"randomized": True, "differentiable": False}
    assert declared_traits(str(REPO / "examples" / "bit_depth.py"), "BitDepthReduction") == {"randomized": False, "differentiable": False}


def test_the_default_config_with_its_plugin_validates_without_torch():
    """What Snakemake does under --software-deployment-method conda: mnistrobust.config from src/, no torch."""
    script = (
        "import sys, yaml; sys.modules['torch'] = None; sys.path.insert(0, 'src')\n"
        "from mnistrobust.config import method_noises, validate\n"
        "config = yaml.safe_load(open('config.yaml'))\n"
        "validate(config, 'workflow/schemas/config.schema.yaml')\n"
        "print(method_noises(config['methods']['bitdepth1_lenet']))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['gaussian', 'fgsm_oblivious', 'fgsm_bpda']"


WRONG_SHAPE = GOOD.replace("return self.classifier(x)", "return self.classifier(x)[:, :5]")


def test_validate_reads_a_plugin_and_the_smoke_run_builds_it(tmp_path):
    """config stays torch-free: a class whose source declares nothing wrong passes validate;
    building and running it (here, in front of a committee of untrained LeNets) is
    nets.plugins' part."""
    config = _config_with_defense(tmp_path, WRONG_SHAPE)
    config["methods"]["mine"]["members"] = ["lenet_seed2", "lenet_seed3"]
    validate(config, SCHEMA)
    with pytest.raises(ConfigError, match=r"^method 'mine': 'Mine' returns \(2, 5\) for 2 images"):
        smoke_run_defenses(config)
    smoke_run_defenses(_config_with_defense(tmp_path, GOOD))


def test_a_job_that_builds_a_plugin_checks_it_as_the_smoke_run_does(tmp_path):
    """Where Snakemake ran without torch there was no smoke run: the job's build stops on the same line."""
    defense = _config_with_defense(tmp_path, WRONG_SHAPE)["methods"]["mine"]["defense"]
    with pytest.raises(ConfigError, match=r"^'Mine' returns \(2, 5\) for 2 images; a defense must return \(N, 10\) logits$"):
        build_plugin(defense, LeNet().eval(), "end_to_end")
    good = _config_with_defense(tmp_path, GOOD)["methods"]["mine"]["defense"]
    assert tuple(build_plugin(good, LeNet().eval(), "end_to_end")(torch.zeros(3, 1, 28, 28)).shape) == (3, 10)


def _small_config_with_defense(tmp_path, source: str) -> str:
    (tmp_path / "mine.py").write_text(source)
    defense = {"file": str(tmp_path / "mine.py"), "class": "Mine"}
    return small_config_with(tmp_path, {"methods": {"mine": {"preprocess": "none", "members": ["lenet"], "defense": defense}}})


def test_the_workflow_stops_a_plugin_that_fails_its_smoke_run_in_one_line(tmp_path, no_data_dir):
    result = dry_run(tmp_path / "work", no_data_dir, "paper", config=_small_config_with_defense(tmp_path, WRONG_SHAPE))
    assert not result.ok
    lines = [line for line in result.output.splitlines() if "method 'mine'" in line]
    assert lines == ["Error: method 'mine': 'Mine' returns (2, 5) for 2 images; a defense must return (N, 10) logits"]
    assert "Traceback" not in result.output
    assert not (tmp_path / "work" / "results").exists()


@pytest.mark.slow  # Snakemake's command line in a subprocess
def test_where_torch_is_missing_the_workflow_says_it_did_not_smoke_run_the_plugins(tmp_path, no_data_dir):
    """Snakemake without the package's environment: the config is checked, the smoke run is
    skipped in one line on stderr (a plug-in that would fail it is then the jobs' to stop)."""
    config = _small_config_with_defense(tmp_path, WRONG_SHAPE)
    arguments = snakemake_command(tmp_path / "work", no_data_dir, "-n", "paper", config=config)[len(SNAKEMAKE):]
    script = (
        "import runpy, sys\n"
        "sys.modules['torch'] = None\n"
        "sys.argv = ['snakemake', *sys.argv[1:]]\n"
        "runpy.run_module('snakemake', run_name='__main__', alter_sys=True)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, *arguments], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    notes = [line for line in result.stderr.splitlines() if "smoke-run" in line]
    assert notes == ["plug-in defenses not smoke-run here: torch is not importable; each job checks its own"]
    assert "Traceback" not in result.stderr
