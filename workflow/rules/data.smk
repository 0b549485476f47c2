rule mnist:
    output:
        "results/data/mnist.h5",
    log:
        "results/logs/mnist.log",
    benchmark:
        "results/benchmarks/mnist.tsv"
    conda:
        "../envs/mnistrobust.yaml"
    threads: 1
    resources:
        mem_mb=1000,
    params:
        sources=config["data"]["mnist_sources"],
        local_dir=config["data"]["mnist_local_dir"],
    script:
        "../scripts/acquire_mnist.py"
