"""Rule sweep: error and dist of one method at every noise strength of one noise type."""

from mnistrobust.jobs.evaluation import run_sweep
from mnistrobust.jobs.runtime import job_for, method_inputs, resolve_device

with job_for(snakemake) as log:
    run_sweep(
        method_inputs(snakemake.wildcards.method, snakemake.input, snakemake.params),
        snakemake.input.data,
        snakemake.params.noise,
        settings=snakemake.params.evaluation,
        test_images=snakemake.params.test_images,
        output_csv=snakemake.output.curve,
        sign_map=snakemake.input.get("sign_map"),
        log=log,
        device=resolve_device(snakemake.config["device"]),
    )
