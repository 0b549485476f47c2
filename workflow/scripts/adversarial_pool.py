"""Rule adversarial_pool: Eq. 3 examples of the training set from the previous stage's model."""

from mnistrobust.jobs.training import make_pool
from mnistrobust.jobs.runtime import job_for, resolve_device

with job_for(snakemake) as log:
    make_pool(
        snakemake.input.data,
        snakemake.input.checkpoint,
        snakemake.output.pool,
        stage=snakemake.params.stage,
        settings=snakemake.params.settings,
        train_images=snakemake.params.train_images,
        log=log,
        device=resolve_device(snakemake.config["device"]),
    )
