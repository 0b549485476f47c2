"""Rule adversarial_stage: continue the previous stage's model on the natural set and the pools so far."""

from mnistrobust.jobs.training import train_stage
from mnistrobust.jobs.runtime import job_for, resolve_device

with job_for(snakemake) as log:
    train_stage(
        snakemake.input.data,
        snakemake.input.previous,
        list(snakemake.input.pools),
        snakemake.output.checkpoint,
        stage=snakemake.params.stage,
        settings=snakemake.params.settings,
        solver=snakemake.params.solver,
        base_iterations=snakemake.params.base_iterations,
        train_images=snakemake.params.train_images,
        test_images=snakemake.params.test_images,
        log=log,
        device=resolve_device(snakemake.config["device"]),
    )
