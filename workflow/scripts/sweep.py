"""Rule sweep: error and dist of one method at every noise strength of one noise type."""

from mnistrobust.jobs.evaluation import run_sweep
from mnistrobust.jobs.runtime import job_for, resolve_device

with job_for(snakemake) as log:
    run_sweep(
        snakemake.input.data,
        snakemake.wildcards.method,
        snakemake.params.spec,
        list(snakemake.input.members),
        snakemake.params.lowpass,
        snakemake.params.noise,
        snakemake.params.evaluation,
        test_images=snakemake.params.test_images,
        output_csv=snakemake.output.curve,
        dae_checkpoint=snakemake.input.get("dae"),
        sign_map=snakemake.input.get("sign_map"),
        log=log,
        device=resolve_device(snakemake.config["device"]),
    )
