# Where MNIST comes from is not a param: the bytes are MD5-verified whatever the
# source, so moving the data folder must not rerun this rule and everything after it.
rule mnist:
    """Fetch MNIST from the configured sources, verify the MD5s, store it as HDF5."""
    output:
        MNIST_H5,
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
