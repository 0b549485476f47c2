# Where MNIST comes from is not a param: the bytes are MD5-verified whatever the
# source, so moving the data folder must not rerun this rule and everything after it.
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
    script:
        "../scripts/acquire_mnist.py"
