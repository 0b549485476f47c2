"""Rules train_group_*: train the networks of one training group as one grouped network."""

from mnistrobust.jobs.runtime import job_for, resolve_device
from mnistrobust.jobs.training import train_group_checkpoints

with job_for(snakemake) as log:
    train_group_checkpoints(
        snakemake.input.data,
        dict(zip(snakemake.params.members, snakemake.output.checkpoints)),
        model_specs=snakemake.params.specs,
        solver=snakemake.params.solver,
        train_images=snakemake.params.train_images,
        test_images=snakemake.params.test_images,
        log=log,
        device=resolve_device(snakemake.config["device"]),
    )
