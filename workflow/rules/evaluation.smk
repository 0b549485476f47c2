rule sweep:
    input:
        unpack(sweep_inputs),
    output:
        curve="results/sweeps/{model}/{noise}.csv",
    log:
        "results/logs/sweep/{model}/{noise}.log",
    benchmark:
        "results/benchmarks/sweep/{model}/{noise}.tsv"
    conda:
        "../envs/mnistrobust.yaml"
    threads: config["threads"]["evaluate"]
    resources:
        mem_mb=2500,
    params:
        noise=checked_noise,
        evaluation=canonical(config["evaluation"]),
        test_images=config["data"]["test_images"],
    script:
        "../scripts/sweep.py"
