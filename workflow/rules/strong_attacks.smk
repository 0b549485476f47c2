# Beyond the paper: stronger attacks (PGD, EOT-PGD, Square, transfer, AutoAttack) on every
# Table 2 method and an adversarially trained reference (fast adversarial training). Target: snakemake strong_attacks --cores N


rule strong_attacks:
    """Target: the strong-attack table and figure (PGD, EOT-PGD, BPDA, Square, transfer, AutoAttack; beyond the paper)."""
    input:
        strong_outputs(),


rule strong_transfer_examples:
    """PGD examples of one transfer source at every eps, to be scored on the other methods."""
    input:
        unpack(strong_source_inputs),
    output:
        examples=TRANSFER_EXAMPLES,
    log:
        "results/logs/strong_attacks/transfer/{source}.log",
    benchmark:
        "results/benchmarks/strong_attacks/transfer/{source}.tsv"
    wildcard_constraints:
        source="[^/]+",
    conda:
        "../envs/mnistrobust.yaml"
    threads: config["threads"]["evaluate"]
    resources:
        mem_mb=2500,
    params:
        spec=strong_source_spec,
        lowpass=config["lowpass"],
        settings=strong_settings(),
    script:
        "../scripts/strong_transfer_examples.py"


rule strong_fast_reference_model:
    """The reference that holds: LeNet with fast adversarial training (Wong et al.), best epoch by a PGD guard."""
    input:
        data=MNIST_H5,
    output:
        checkpoint=REFERENCE_CHECKPOINTS[FAST_REFERENCE],
    log:
        "results/logs/strong_attacks/fast_reference.log",
    benchmark:
        "results/benchmarks/strong_attacks/fast_reference.tsv"
    conda:
        "../envs/mnistrobust.yaml"
    threads: config["threads"]["train"]
    resources:
        mem_mb=2000,
    params:
        fast_reference=strong_config()["fast_reference"],
        train_images=config["data"]["train_images"],
        test_images=config["data"]["test_images"],
    script:
        "../scripts/strong_fast_reference_model.py"


rule strong_evaluate:
    """One method under every configured strong attack at every eps, with its per-image worst case."""
    input:
        unpack(strong_method_inputs),
    output:
        results=STRONG_RESULT,
    log:
        "results/logs/strong_attacks/methods/{method}.log",
    benchmark:
        "results/benchmarks/strong_attacks/methods/{method}.tsv"
    wildcard_constraints:
        method="[^/]+",
    conda:
        "../envs/mnistrobust.yaml"
    threads: config["threads"]["evaluate"]
    resources:
        mem_mb=strong_evaluate_mem_mb(),
    params:
        spec=strong_method_spec,
        lowpass=config["lowpass"],
        settings=strong_settings(),
        transfer_sources=strong_transfer_sources,
    script:
        "../scripts/strong_evaluate.py"


rule strong_attacks_table:
    """Join the methods' strong-attack results into the table beside Table 2, its flags and figure."""
    input:
        results=[strong_result(method) for method in strong_methods()],
    output:
        csv=report(
            "results/tables/strong_attacks.csv",
            caption="../report/strong_attacks.rst",
            category="Stronger attacks",
        ),
        markdown=report(
            "results/tables/strong_attacks.md",
            caption="../report/strong_attacks.rst",
            category="Stronger attacks",
        ),
        figure=report(
            "results/figures/strong_attacks_error_vs_eps.png",
            caption="../report/strong_attacks.rst",
            category="Stronger attacks",
        ),
    log:
        "results/logs/strong_attacks/table.log",
    benchmark:
        "results/benchmarks/strong_attacks/table.tsv"
    conda:
        "../envs/mnistrobust.yaml"
    threads: 1
    resources:
        mem_mb=1000,
    params:
        labels=list(strong_methods().values()),
        settings=strong_settings(),
        fast_reference=strong_config()["fast_reference"],
    script:
        "../scripts/strong_attacks_table.py"
