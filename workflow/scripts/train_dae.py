"""Rule train_dae: train the denoising autoencoder and save its checkpoint."""

from mnistrobust.jobs.runtime import job_for, resolve_device
from mnistrobust.jobs.training import train_dae_checkpoint

with job_for(snakemake) as log:
    train_dae_checkpoint(
        snakemake.input.data,
        snakemake.output.checkpoint,
        settings=snakemake.params.settings,
        train_images=snakemake.params.train_images,
        test_images=snakemake.params.test_images,
        log=log,
        device=resolve_device(snakemake.config["device"]),
    )
