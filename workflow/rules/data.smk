rule mnist:
    output:
        "results/data/mnist.h5",
    params:
        sources=config["data"]["mnist_sources"],
        local_dir=config["data"]["mnist_local_dir"],
    log:
        "results/logs/mnist.log",
    benchmark:
        "results/benchmarks/mnist.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    conda:
        "../envs/mnistrobust.yaml"
    script:
        "../scripts/acquire_mnist.py"
