"""Rule adversarial_pool: Eq. 3 examples of the training set from the previous stage's model."""

from mnistrobust.adversarial import make_pool
from mnistrobust.runtime import job, resolve_device

with job(snakemake.log[0], snakemake.threads) as log:
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
