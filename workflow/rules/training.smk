rule train_model:
    input:
        data="results/data/mnist.h5",
    output:
        checkpoint="results/models/{model}.pt",
    log:
        "results/logs/train_model/{model}.log",
    benchmark:
        "results/benchmarks/train_model/{model}.tsv"
    conda:
        "../envs/mnistrobust.yaml"
    threads: config["threads"]["train"]
    resources:
        mem_mb=2000,
    params:
        spec=model_spec,
        solver=canonical(config["solver"]),
        train_images=config["data"]["train_images"],
        test_images=config["data"]["test_images"],
    script:
        "../scripts/train_model.py"
