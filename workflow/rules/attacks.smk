rule fgsm_sign_map:
    input:
        data="results/data/mnist.h5",
        checkpoint=checkpoint_path,
    output:
        sign_map="results/attacks/{model}/fgsm_sign.h5",
    log:
        "results/logs/fgsm_sign_map/{model}.log",
    benchmark:
        "results/benchmarks/fgsm_sign_map/{model}.tsv"
    conda:
        "../envs/mnistrobust.yaml"
    threads: config["threads"]["evaluate"]
    resources:
        mem_mb=2000,
    params:
        test_images=config["data"]["test_images"],
    script:
        "../scripts/fgsm_sign_map.py"
