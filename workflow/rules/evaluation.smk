rule sweep:
    input:
        unpack(sweep_inputs),
    output:
        curve="results/sweeps/{model}/{noise}.csv",
    params:
        noise=checked_noise,
        evaluation=canonical(config["evaluation"]),
        test_images=config["data"]["test_images"],
    log:
        "results/logs/sweep/{model}/{noise}.log",
    benchmark:
        "results/benchmarks/sweep/{model}/{noise}.tsv"
    threads: config["threads"]["evaluate"]
    resources:
        mem_mb=2500,
    conda:
        "../envs/mnistrobust.yaml"
    script:
        "../scripts/sweep.py"
