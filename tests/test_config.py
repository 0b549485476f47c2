"""Tests for mnistrobust.config: the shared names, the settings classes, and every check of a
config (the schema with one readable line per violation, then the cross-checks), both
called directly and as the workflow applies them before any job starts."""

from __future__ import annotations

import copy

import pytest
import yaml

from conftest import REPO, dry_run, run_snakemake, small_config_with
from mnistrobust.config import (
    ATTACK_THREAT,
    FAST_REFERENCE,
    THREAT_MODELS,
    Network,
    PGDSettings,
    SquareSettings,
    StrongAttackSettings,
    canonical,
    check_stage,
    check_eps,
    check_method,
    check_noise,
    check_training_groups,
    cross_check,
    fast_reference_budget,
    lowpass_filters,
    member_network,
    method_spec,
    noise_kind,
    parse_replicate,
    parse_stage,
    replicate_dae_settings,
    replicate_dir,
    replicate_method_spec,
    replicate_model,
    schema_problems,
    stage_model_name,
    validate,
)
from mnistrobust.errors import ConfigError

from model_support import LOWPASS_SECTION, MODELS_SECTION, STRONG_ATTACKS_SECTION

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
LOWPASS = LOWPASS_SECTION


def default_config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def merged(config: dict, changes: dict) -> dict:
    """``changes`` merged into a copy of ``config`` mapping by mapping, as Snakemake merges config files."""
    out = copy.deepcopy(config)
    for key, value in changes.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


# ------------------------------------------------------------------ names


def test_noise_names_and_threat_models():
    assert ATTACK_THREAT == {"gaussian": None, "fgsm": "end_to_end", "fgsm_oblivious": "oblivious", "fgsm_bpda": "bpda"}
    assert set(ATTACK_THREAT.values()) - {None} == set(THREAT_MODELS)
    assert check_noise("gaussian") == "gaussian"
    assert check_noise("fgsm") == "fgsm"
    with pytest.raises(ConfigError, match="salt"):
        check_noise("salt")
    assert noise_kind("fgsm_oblivious") == "fgsm" and noise_kind("fgsm") == "fgsm" and noise_kind("gaussian") == "gaussian"
    with pytest.raises(ConfigError, match="unknown noise 'blur'"):
        noise_kind("blur")


def test_stage_names():
    assert parse_stage("adv_stage3", 5) == 3
    assert parse_stage("lenet", 5) is None and parse_stage("adv_stage0", 5) is None
    with pytest.raises(ConfigError, match=r"^'adv_stage9': adversarial stage 9 does not exist; stages are 1\.\.5 \(adversarial.stages\)$"):
        parse_stage("adv_stage9", 5)
    assert check_stage(5, 5) == 5
    for stage in (0, 6):
        with pytest.raises(ConfigError, match=f"^adversarial stage {stage} does not exist; stages are 1..5"):
            check_stage(stage, 5)
    assert stage_model_name(0, "lenet") == "lenet" and stage_model_name(2, "lenet") == "adv_stage2"


def test_lowpass_filter_names_and_canonical_key_order():
    assert lowpass_filters(LOWPASS) == {"lowpass3": {"size": 3, "variance": 7.0}, "lowpass5": {"size": 5, "variance": 1.3}}
    mapping = {"b": 1, "a": {"d": 2, "c": 3}}
    assert list(canonical(mapping)) == ["a", "b"] and list(canonical(mapping)["a"]) == ["c", "d"]
    assert canonical(mapping) == mapping


@pytest.mark.parametrize(
    ("spec", "noise", "message"),
    [
        ({"preprocess": "lowpass9", "members": ["a"]}, None, "unknown preprocess 'lowpass9'"),
        ({"preprocess": "blur", "members": ["a"]}, None, "unknown preprocess 'blur'"),
        ({"preprocess": "none", "members": []}, None, "no members"),
        ({"preprocess": "none", "members": ["a"]}, "fgsm_oblivious", "no preprocessing"),
        ({"preprocess": "none", "members": ["a"]}, "salt", "unknown noise 'salt'"),
    ],
)
def test_bad_method_specs_are_named(spec, noise, message):
    with pytest.raises(ConfigError, match=message):
        check_method("m", spec, LOWPASS, noise)


def test_good_method_specs_pass():
    check_method("m", {"preprocess": "lowpass5", "members": ["a", "b"]}, LOWPASS, "fgsm_oblivious")
    check_method("m", {"preprocess": "dae", "members": ["a"]}, LOWPASS, "fgsm")
    check_method("m", {"members": ["a"]}, LOWPASS, "gaussian")  # preprocess defaults to none


# MODELS_SECTION: a and b can train as one group; c repeats b's seed, d and e differ from a in
# iterations and dropout.
@pytest.mark.parametrize(
    "groups, message",
    [
        ({"g": ["a", "zz"]}, "unknown model"),
        ({"g": ["a", "b"], "h": ["b"]}, "in training groups"),
        ({"g": ["b", "c"]}, "repeat a seed"),
        ({"g": ["a", "d"]}, "share iterations and dropout"),
        ({"g": ["a", "e"]}, "share iterations and dropout"),
    ],
)
def test_training_group_config_errors_name_the_problem(groups, message):
    with pytest.raises(ConfigError, match=message):
        check_training_groups(groups, MODELS_SECTION)


def test_a_valid_training_group_passes():
    check_training_groups({"g": ["a", "b"]}, MODELS_SECTION)
    check_training_groups({}, MODELS_SECTION)


def test_member_checkpoints_and_method_specs_of_the_default_config():
    config = default_config()
    assert member_network(config, "lenet") == Network("model", "lenet")
    assert member_network(config, "adv_stage2") == Network("stage", "2")
    with pytest.raises(ConfigError, match="unknown model 'ghost'"):
        member_network(config, "ghost")
    spec = method_spec(config, "lowpass5_lenet", "fgsm_oblivious")
    assert spec == {"members": ["lenet"], "preprocess": "lowpass5"}
    with pytest.raises(ConfigError, match="unknown method 'nosuch'"):
        method_spec(config, "nosuch")
    with pytest.raises(ConfigError, match="no preprocessing"):
        method_spec(config, "lenet", "fgsm_oblivious")


# ------------------------------------------------------------------ replicates


def test_replicate_folders_round_trip_and_replicate_1_has_none():
    assert [replicate_dir(k) for k in (1, 2, 10)] == ["", "r2/", "r10/"]
    assert [parse_replicate(replicate_dir(k)) for k in (1, 2, 10)] == [1, 2, 10]
    for bad in ("r1/", "r0/", "r02/", "2/", "r2"):
        with pytest.raises(ConfigError, match="not a replicate folder"):
            parse_replicate(bad)


def test_a_replicate_shifts_every_seed_by_the_step_and_keeps_the_other_settings():
    config = merged(default_config(), {"replicates": 3, "replicate_seed_step": 6})
    for replicate, seed in ((1, 1), (2, 7), (3, 13)):
        inp = replicate_model(config, "lenet_inp", replicate)
        assert inp.spec == {**canonical(config["models"]["lenet_inp"]), "seed": seed}
        assert replicate_dae_settings(config, replicate)["seed"] == seed
    assert replicate_model(config, "lenet_inp", 1).network == Network("model", "lenet_inp")
    assert replicate_model(config, "lenet_inp", 3).network == Network("model", "lenet_inp", 3)
    assert member_network(config, "adv_stage5", 2) == Network("stage", "5", 2)
    assert str(member_network(config, "adv_stage5", 2)) == "adversarial stage 5 of replicate 2"


def test_a_replicate_that_is_a_configured_network_is_that_checkpoint_trained_once():
    config = merged(default_config(), {"replicates": 3})
    # lenet with seed 7 and 13 is lenet_seed7 and lenet_seed13: the human study's LeNets
    assert replicate_model(config, "lenet", 2) == replicate_model(config, "lenet_seed7", 1)
    assert member_network(config, "lenet", 3) == Network("model", "lenet_seed13")
    committee = replicate_method_spec(config, "committee", "fgsm", 2)
    assert committee["members"] == [f"lenet_seed{seed}" for seed in range(7, 13)]
    assert replicate_method_spec(config, "adv_committee", None, 3)["members"][:2] == ["lenet_seed13", "adv_stage1"]


def test_the_dropout_placement_joins_the_spec_of_models_it_changes_only():
    config = default_config()
    assert config["dropout_placement"] == "caffe"
    assert replicate_model(config, "lenet_all", 1).spec["dropout_placement"] == "caffe"
    assert "dropout_placement" not in replicate_model(config, "lenet_inp", 1).spec  # input dropout alone
    assert "dropout_placement" not in replicate_model(config, "lenet", 1).spec
    legacy = merged(config, {"dropout_placement": "after_pooling"})
    assert replicate_model(legacy, "lenet_all", 2).spec["dropout_placement"] == "after_pooling"


def test_a_database_order_joins_every_models_and_the_daes_settings_only_when_chosen():
    config = default_config()
    assert config["sample_order"] == "shuffled"
    assert "sample_order" not in replicate_model(config, "lenet", 1).spec
    assert "sample_order" not in replicate_dae_settings(config, 2)
    database = merged(config, {"sample_order": "database"})
    validate(database, SCHEMA)
    for model in ("lenet", "lenet_all", "lenet_seed4"):
        assert replicate_model(database, model, 2).spec["sample_order"] == "database"
    assert replicate_dae_settings(database, 3)["sample_order"] == "database"
    # lenet's replicate 2 is still the human study's lenet_seed7, trained once for both
    assert replicate_model(database, "lenet", 2).name == "lenet_seed7"


def test_a_shared_sample_seed_moves_with_the_replicate_like_the_seed():
    config = merged(default_config(), {"models": {"lenet_seed2": {"sample_seed": 1}}, "replicate_seed_step": 20})
    validate(config, SCHEMA)
    assert replicate_model(config, "lenet_seed2", 1).spec["sample_seed"] == 1
    assert replicate_model(config, "lenet_seed2", 3).spec == {**replicate_model(config, "lenet_seed2", 1).spec, "seed": 42, "sample_seed": 41}


@pytest.mark.parametrize(
    "change, line",
    [
        ({"dropout_placement": "before"}, "config.dropout_placement: 'before' is not allowed; allowed: 'caffe', 'after_pooling'"),
        ({"dae": {"recipe": "keras"}}, "config.dae.recipe: 'keras' is not allowed; allowed: 'caffe_example', 'relu_pilot'"),
        ({"sample_order": "random"}, "config.sample_order: 'random' is not allowed; allowed: 'shuffled', 'database'"),
        ({"lowpass": {"sampling": "ends"}}, "config.lowpass.sampling: 'ends' is not allowed; allowed: 'cell_centres', 'linspace'"),
        ({"adversarial": {"gradient_batch": 0}}, "config.adversarial.gradient_batch: 0 is less than the minimum of 1"),
        (
            {"methods": {"committee": {"attack_loss": "sum"}}},
            "config.methods.committee.attack_loss: 'sum' is not allowed; allowed: 'averaged_output', 'mean_member_loss'",
        ),
        ({"strong_attacks": {"enabled": "sometimes"}}, "config.strong_attacks.enabled: 'sometimes' is not allowed; allowed: 'auto', True, False"),
    ],
)
def test_a_bad_value_of_a_reading_key_is_one_line_naming_the_key_and_the_values(change, line):
    with pytest.raises(ConfigError) as error:
        validate(merged(default_config(), change), SCHEMA)
    assert str(error.value).splitlines() == ["the configuration has 1 problem:", f"  {line}"]


# ------------------------------------------------------------------ settings classes


def test_pgd_step_is_relative_unless_fixed():
    assert PGDSettings(steps=10, relative_step_size=2.5).step_for(0.2) == pytest.approx(0.05)
    assert PGDSettings(steps=40, step_size=0.01).step_for(0.3) == 0.01


def test_square_schedule_shrinks_the_patch_from_p_init_to_one_pixel():
    settings = SquareSettings(queries=1000, p_init=0.3)
    sides = [settings.side(q, 28) for q in range(1000)]
    assert sides[0] == 15 and sides[-1] == 1  # round(sqrt(0.3 * 784)); then halved fractions
    assert sides == sorted(sides, reverse=True)


def test_strong_attack_settings_from_config():
    settings = StrongAttackSettings.from_config({**STRONG_ATTACKS_SECTION, "eps": [0.3, 0.1, 0.2]})
    assert settings.eps == (0.1, 0.2, 0.3)  # ascending
    assert settings.all_eps == [0.1, 0.2, 0.3, 1.0]
    assert settings.pgd == PGDSettings(steps=6, restarts=2, relative_step_size=2.5)
    assert settings.square == SquareSettings(queries=30, p_init=0.3)
    assert settings.attacks == ("fgsm", "pgd", "eot_pgd", "transfer") and settings.transfer_sources == ("lenet",)


# Ranges the schema holds the strong_attacks section to: the settings classes built from a
# validated section trust them.
STRONG_ATTACK_VIOLATIONS = [
    ({"eps": [-0.1, 0.2]}, "config.strong_attacks.eps[0]: -0.1 is less than or equal to the minimum of 0"),
    ({"eps": [0.0, 0.1]}, "config.strong_attacks.eps[0]: 0.0 is less than or equal to the minimum of 0"),
    ({"eps": [0.1, 1.5]}, "config.strong_attacks.eps[1]: 1.5 is greater than the maximum of 1"),
    ({"eps": [0.1, 0.1]}, "config.strong_attacks.eps: [0.1, 0.1] has non-unique elements"),
    ({"pgd": {"steps": 0}}, "config.strong_attacks.pgd.steps: 0 is less than the minimum of 1"),
    ({"pgd": {"restarts": 0}}, "config.strong_attacks.pgd.restarts: 0 is less than the minimum of 1"),
    ({"pgd": {"relative_step_size": 0}}, "config.strong_attacks.pgd.relative_step_size: 0 is less than or equal to the minimum of 0"),
    ({"pgd": {"norm": 2}}, "config.strong_attacks.pgd: unknown key(s) 'norm'; allowed: relative_step_size, restarts, steps"),
    (
        {"attacks": ["fgsm", "carlini_wagner"]},
        "config.strong_attacks.attacks[1]: 'carlini_wagner' is not allowed; allowed: 'fgsm', 'pgd', 'eot_pgd', 'square', 'transfer', 'autoattack'",
    ),
    ({"attacks": []}, "config.strong_attacks.attacks: [] should be non-empty"),
    ({"square": {"queries": 0}}, "config.strong_attacks.square.queries: 0 is less than the minimum of 1"),
    ({"square": {"p_init": 1.5}}, "config.strong_attacks.square.p_init: 1.5 is greater than the maximum of 1"),
    ({"sanity_eps": 1.5}, "config.strong_attacks.sanity_eps: 1.5 is greater than the maximum of 1"),
    ({"sanity_min_error": 95}, "config.strong_attacks.sanity_min_error: 95 is greater than the maximum of 1"),
    ({"eot_samples": 0}, "config.strong_attacks.eot_samples: 0 is less than the minimum of 1"),
    ({"autoattack": {"version": "plus"}}, "config.strong_attacks.autoattack.version: 'plus' is not allowed; allowed: 'standard', 'rand'"),
    ({"autoattack": {"steps": 0}}, "config.strong_attacks.autoattack.steps: 0 is less than the minimum of 1"),
    ({"cascade": "false"}, "config.strong_attacks.cascade: 'false' is not of type boolean (on the command line write False)"),
    ({"fast_reference": {"lr_max": 0}}, "config.strong_attacks.fast_reference.lr_max: 0 is less than or equal to the minimum of 0"),
    (
        {"fast_reference": {"collapse_fraction": 1.5}},
        "config.strong_attacks.fast_reference.collapse_fraction: 1.5 is greater than the maximum of 1",
    ),
]


@pytest.mark.parametrize("change, line", STRONG_ATTACK_VIOLATIONS)
def test_bad_attack_parameters_are_one_line_of_the_schema(change, line):
    with pytest.raises(ConfigError) as error:
        validate(merged(default_config(), {"strong_attacks": change}), SCHEMA)
    assert str(error.value).splitlines() == ["the configuration has 1 problem:", f"  {line}"]


def test_a_missing_attack_setting_is_named_by_the_schema():
    config = default_config()
    del config["strong_attacks"]["seed"]
    assert schema_problems(config, yaml.safe_load(SCHEMA.read_text())) == ["config.strong_attacks: 'seed' is a required property"]



def test_eps_values_are_checked_and_sorted():
    assert check_eps([0.3, 0.1]) == [0.1, 0.3]
    with pytest.raises(ConfigError, match="repeat"):
        check_eps([0.1, 0.1])
    with pytest.raises(ConfigError, match="eps must lie in"):
        check_eps([])
    with pytest.raises(ConfigError, match="eps must lie in"):
        check_eps([0.0, 0.1])


def test_fast_reference_budget_states_the_recipe():
    fast = default_config()["strong_attacks"]["fast_reference"]
    assert fast_reference_budget(fast) == (
        "LeNet with ReLU after its convolutions fast-AT 10 epochs x batch 100 (PGD-3 from a random start, eps 0.3, step 0.75 eps, "
        "Adam cyclic lr up to 0.005; best epoch by PGD-10 on 1000 training images), from scratch"
    )
    assert "eps 0.3, Adam" in fast_reference_budget({**fast, "step_ratio": None})  # the method's own step
    assert "(N-FGSM, eps 0.3," in fast_reference_budget({**fast, "method": "n_fgsm", "attack_steps": 1})
    assert "(FGSM-RS, eps 0.3," in fast_reference_budget({**fast, "attack_steps": 1})
    assert fast_reference_budget({**fast, "arch": "lenet"}).startswith("LeNet fast-AT 10 epochs")


# ------------------------------------------------------------------ validate: schema and cross-checks


def test_the_default_and_small_configs_are_valid():
    config = default_config()
    validate(config, SCHEMA)
    small = merged(default_config(), yaml.safe_load((REPO / "tests" / "config" / "small.yaml").read_text()))
    validate(small, SCHEMA)


CONFIG_ERRORS = [
    ({"evaluation": {"levels": 1}}, "levels"),
    ({"evaluation": {"max_strength": {"fgsm": -0.1}}}, "fgsm"),
    ({"models": {"lenet": {"arch": "resnet"}}}, "resnet"),
    ({"data": {"mnist_sources": ["ftp"]}}, "ftp"),
    ({"surprise": 1}, "surprise"),
    ({"baseline_method": "nosuch"}, "nosuch"),
    ({"methods": {"lenet": {"preprocess": "lowpass9", "members": ["lenet"]}}}, "lowpass9"),
    ({"methods": {"lenet": {"preprocess": "none", "members": ["adv_stage7"]}}}, "adv_stage7"),
    ({"methods": {"lenet": {"preprocess": "none", "members": ["ghost"]}}}, "ghost"),
    ({"training_groups": {"committee_seeds": ["lenet_seed2", "phantom"]}}, "phantom"),
    ({"training_groups": {"mixed": ["lenet", "lenet_inp"]}}, "share iterations and dropout"),
    ({"adversarial": {"stages": 0}}, "stages"),
    ({"dae": {"iterations": 0}}, "config.dae.iterations: 0 is less than the minimum of 1"),
    ({"dae": {"learning_rate": 0}}, "config.dae.learning_rate: 0 is less than or equal to the minimum of 0"),
    ({"dae": {"recipe": "keras"}}, "config.dae.recipe: 'keras' is not allowed"),
    ({"solver": {"batch_size": 0}}, "config.solver.batch_size: 0 is less than the minimum of 1"),
    ({"models": {"lenet": {"iterations": 0}}}, "config.models.lenet.iterations: 0 is less than the minimum of 1"),
    ({"strong_attacks": {"fast_reference": {"epochs": 0}}}, "config.strong_attacks.fast_reference.epochs: 0 is less than the minimum of 1"),
    ({"strong_attacks": {"fast_reference": {"step_ratio": -1}}}, "config.strong_attacks.fast_reference.step_ratio: -1 is less than the minimum of 0"),
    ({"strong_attacks": {"fast_reference": {"eps": 1.5}}}, "config.strong_attacks.fast_reference.eps: 1.5 is greater than the maximum of 1"),
    ({"strong_attacks": {"fast_reference": {"method": "pgd"}}}, "fast_reference.method: 'pgd' is not allowed; allowed: 'fgsm_rs', 'n_fgsm'"),
    ({"lowpass": {"filters": [{"size": 4, "variance": 1.0}]}}, "size"),
    ({"table2": {"rows": [{"label": "x", "method": "lenet", "noise": "fgsm_oblivious"}]}}, "no preprocessing"),
    # The key and the row are named: a threat model the row's method does not have.
    ({"table2": {"rows": [{"label": "x", "method": "lenet", "noise": "fgsm_oblivious"}]}}, "table2.rows[0] ('x')"),
    (
        {"table2": {"rows": [{"label": "x", "method": "lenet", "noise": "fgsm"}, {"label": "x", "method": "dae_lenet", "noise": "fgsm"}]}},
        "table2.rows repeats the label(s) ['x']",
    ),
    ({"replicates": 0}, "config.replicates: 0 is less than the minimum of 1"),
    ({"replicates": -2}, "config.replicates: -2 is less than the minimum of 1"),
    ({"replicates": 2.5}, "config.replicates: 2.5 is not of type integer"),
    ({"replicates": "three"}, "config.replicates: 'three' is not of type integer"),
    ({"replicate_seed_step": 0}, "config.replicate_seed_step: 0 is less than the minimum of 1"),
    # --config replicate_curves=false passes the text 'false'
    ({"replicate_curves": "false"}, "config.replicate_curves: 'false' is not of type boolean (on the command line write False)"),
]


@pytest.mark.parametrize(("override", "named"), CONFIG_ERRORS)
def test_validate_names_what_is_wrong(override, named):
    with pytest.raises(ConfigError) as error:
        validate(merged(default_config(), override), SCHEMA)
    assert named in str(error.value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"human": {"lenet_models": ["lenet", "lenet_ghost"]}}, "human.lenet_models names ['lenet_ghost']"),
        ({"strong_attacks": {"transfer_sources": ["nosuch"]}}, "transfer_sources names 'nosuch'"),
        ({"strong_attacks": {"sanity_eps": 0.25}}, "sanity_eps 0.25 must exceed every eps"),
        ({"methods": {FAST_REFERENCE: {"preprocess": "none", "members": ["lenet"]}}}, "reserved for the row 'Fast adversarial training (reference)'"),
        (
            {"strong_attacks": {"fast_reference": {"method": "n_fgsm", "attack_steps": 3}}},
            "strong_attacks.fast_reference: fast_at attack_steps must be 1 with n_fgsm",
        ),
        ({"lowpass": {"calibration_model": "ghost"}}, "lowpass.calibration_model 'ghost'"),
        ({"adversarial": {"base_model": "ghost"}}, "adversarial.base_model 'ghost'"),
        # lenet's replicate 2 gets seed 7, that of a LeNet trained differently
        (
            {"replicates": 2, "models": {"lenet": {"iterations": 500}}},
            "replicates: 2 gives replicate 2 of model 'lenet' seed 7, the seed of model 'lenet_seed7', which differs in iterations",
        ),
        # step 3: the committee's replicate 2 (seeds 4..9) would share lenet_seed4..6 with replicate 1
        (
            {"replicates": 2, "replicate_seed_step": 3},
            "gives method 'committee' the network model lenet_seed4 in replicates 1 and 2",
        ),
    ],
)
def test_cross_checks_name_what_the_schema_cannot(override, message):
    config = merged(default_config(), override)
    assert schema_problems(config, yaml.safe_load(SCHEMA.read_text())) == []  # the schema lets it through
    with pytest.raises(ConfigError) as error:
        cross_check(config)
    assert message in str(error.value)


def test_a_top_level_typo_is_named_with_the_key_it_meant():
    config = merged(default_config(), {"baseline_methd": "lenet"})
    with pytest.raises(ConfigError) as error:
        validate(config, SCHEMA)
    message = str(error.value)
    assert "'baseline_methd'" in message
    assert "did you mean 'baseline_method'?" in message
    assert message.splitlines() == [
        "the configuration has 1 problem:",
        "  config: unknown key(s) 'baseline_methd' (did you mean 'baseline_method'?); allowed: "
        "adversarial, baseline_method, dae, data, device, dropout_placement, evaluation, figures, human, lowpass, "
        "methods, models, replicate_curves, replicate_seed_step, replicates, sample_order, solver, strong_attacks, "
        "table2, threads, training_groups",
    ]


def test_two_violations_give_one_line_each():
    config = merged(default_config(), {"baseline_methd": "lenet", "evaluation": {"levels": 1}})
    with pytest.raises(ConfigError) as error:
        validate(config, SCHEMA)
    lines = str(error.value).splitlines()
    assert lines[0] == "the configuration has 2 problems:"
    assert len(lines) == 3
    assert lines[1].startswith("  config: unknown key(s) 'baseline_methd' (did you mean 'baseline_method'?)")
    assert lines[2] == "  config.evaluation.levels: 1 is less than the minimum of 2"


def test_a_dotted_key_from_the_command_line_gets_the_nesting_hint():
    config = merged(default_config(), {"levels.max": 3})
    with pytest.raises(ConfigError, match="--config sets top-level keys only"):
        validate(config, SCHEMA)


def test_validate_fills_the_defaults_the_schema_gives():
    schema = yaml.safe_load(SCHEMA.read_text())
    defaults = {key: spec["default"] for key, spec in schema["properties"].items() if "default" in spec}
    assert defaults, "the schema gives no top-level default: nothing to test here"
    config = default_config()
    for key in defaults:
        config.pop(key, None)
    validate(config, SCHEMA)
    assert {key: config[key] for key in defaults} == defaults


# ------------------------------------------------------------------ the workflow applies them


@pytest.mark.parametrize(("override", "named"), CONFIG_ERRORS)
def test_config_that_fails_its_schema_is_rejected_before_any_job(tmp_path, no_data_dir, override, named):
    result = dry_run(tmp_path, no_data_dir, config=small_config_with(tmp_path, override))
    assert not result.ok
    assert named in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    "strong, message",
    [
        ({"eps": [-0.1, 0.2]}, "-0.1"),
        ({"pgd": {"steps": 0, "restarts": 1, "relative_step_size": 2.5}}, "steps"),
        ({"attacks": ["fgsm", "carlini_wagner"]}, "carlini_wagner"),
        ({"transfer_sources": ["nosuch"]}, "transfer_sources names 'nosuch'"),
    ],
)
def test_workflow_rejects_bad_attack_parameters_before_any_job(tmp_path, no_data_dir, strong, message):
    result = dry_run(tmp_path / "work", no_data_dir, "strong_attacks", config=small_config_with(tmp_path, {"strong_attacks": strong}))
    assert not result.ok
    assert message in result.output
    assert not (tmp_path / "work" / "results").exists()


def test_an_unknown_target_word_lists_the_named_targets(tmp_path, no_data_dir):
    result = dry_run(tmp_path, no_data_dir, "paperr")
    assert not result.ok
    assert "unknown target 'paperr'" in result.output
    for name in ("all", "paper", "strong_attacks"):
        assert f"{name}: " in result.output, name
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_the_command_line_names_a_config_typo_in_a_few_lines(tmp_path, no_data_dir):
    """The real command line: a non-zero exit and the problem in a few lines, without a
    traceback or the schema dumped (Snakemake's banner lines come with it)."""
    config = tmp_path / "typo.yaml"
    config.write_text("baseline_methd: lenet\n")
    workdir = tmp_path / "work"
    result = run_snakemake(workdir, no_data_dir, "-n", config=str(config), check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert len(output.splitlines()) < 15, output
    assert "'baseline_methd'" in output and "did you mean 'baseline_method'?" in output
    assert "Traceback" not in output
    # Snakemake's own validation printed the whole schema after the error.
    assert "Failed validating" not in output and "json-schema.org" not in output and "definitions" not in output
    assert not (workdir / "results").exists()


@pytest.mark.slow
def test_the_command_line_lists_the_named_targets_for_an_unknown_one(tmp_path, no_data_dir):
    workdir = tmp_path / "work"
    result = run_snakemake(workdir, no_data_dir, "-n", "paperr", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "unknown target 'paperr'" in output
    for name in ("all", "paper", "strong_attacks"):
        assert f"{name}: " in output, name
    assert "Traceback" not in output
    assert not (workdir / "results").exists()
