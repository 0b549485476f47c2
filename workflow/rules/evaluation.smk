rule sweep:
    """Error and dist (Eq. 2) of one method at every strength of one noise: one curve of the figures."""
    input:
        unpack(sweep_inputs),
    output:
        curve=SWEEP,
    log:
        "results/logs/{replicate}sweep/{method}/{noise}.log",
    benchmark:
        "results/benchmarks/{replicate}sweep/{method}/{noise}.tsv"
    wildcard_constraints:
        method="[^/]+",
    conda:
        "../envs/mnistrobust.yaml"
    threads: config["threads"]["evaluate"]
    resources:
        mem_mb=2500,
    params:
        spec=method_params,
        noise=checked_noise,
        lowpass=config["lowpass"],
        evaluation=config["evaluation"],
        test_images=config["data"]["test_images"],
    script:
        "../scripts/sweep.py"


rule table2_cells:
    """Table 2's cells of one method: the error at the strength whose dist is exactly 0, 0.1, 0.2 (bisection on dist)."""
    input:
        unpack(cells_inputs),
    output:
        cells=TABLE2_CELLS,
    log:
        "results/logs/{replicate}table2_cells/{method}/{noise}.log",
    benchmark:
        "results/benchmarks/{replicate}table2_cells/{method}/{noise}.tsv"
    wildcard_constraints:
        method="[^/]+",
    conda:
        "../envs/mnistrobust.yaml"
    threads: config["threads"]["evaluate"]
    resources:
        mem_mb=2500,
    params:
        spec=method_params,
        noise=checked_noise,
        lowpass=config["lowpass"],
        evaluation={key: config["evaluation"][key] for key in ("batch_size", "noise_seed")},
        dists=config["table2"]["dists"],
        test_images=config["data"]["test_images"],
    script:
        "../scripts/table2_cells.py"


rule lowpass_calibration:
    """Clean error of the calibration LeNet behind each low-pass filter at each injected-noise sigma."""
    input:
        data=MNIST_H5,
        checkpoint=member_checkpoint(config["lowpass"]["calibration_model"]),
    output:
        csv=report(
            "results/tables/lowpass_clean_error.csv",
            caption="../report/lowpass_calibration.rst",
            category="Low-pass filter",
        ),
    log:
        "results/logs/lowpass_calibration.log",
    benchmark:
        "results/benchmarks/lowpass_calibration.tsv"
    conda:
        "../envs/mnistrobust.yaml"
    threads: config["threads"]["evaluate"]
    resources:
        mem_mb=1500,
    params:
        lowpass=config["lowpass"],
        test_images=config["data"]["test_images"],
    script:
        "../scripts/lowpass_calibration.py"
