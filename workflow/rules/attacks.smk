rule fgsm_sign_map:
    """The gradient sign of a method over the test set (end-to-end or oblivious), computed once for every eps."""
    input:
        unpack(method_inputs),
    output:
        sign_map=SIGN_MAP,
    log:
        "results/logs/{replicate}fgsm_sign_map/{method}/{noise}.log",
    benchmark:
        "results/benchmarks/{replicate}fgsm_sign_map/{method}/{noise}.tsv"
    wildcard_constraints:
        method="[^/]+",
    conda:
        "../envs/mnistrobust.yaml"
    threads: config["threads"]["evaluate"]
    resources:
        mem_mb=2500,
    params:
        spec=method_params,
        threat=sign_map_threat,
        lowpass=config["lowpass"],
        test_images=config["data"]["test_images"],
    script:
        "../scripts/fgsm_sign_map.py"
