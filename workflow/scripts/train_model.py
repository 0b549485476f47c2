"""Rule train_model: train one configured network and save its checkpoint."""

from mnistrobust.jobs.runtime import job_for, resolve_device
from mnistrobust.jobs.training import train_checkpoint

with job_for(snakemake) as log:
    train_checkpoint(
        snakemake.input.data,
        snakemake.output.checkpoint,
        name=snakemake.wildcards.model,
        model_spec=snakemake.params.spec,
        solver=snakemake.params.solver,
        train_images=snakemake.params.train_images,
        test_images=snakemake.params.test_images,
        log=log,
        device=resolve_device(snakemake.config["device"]),
    )
