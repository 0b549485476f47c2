"""Rule train_dae: train the denoising autoencoder and save its checkpoint."""

from mnistrobust.runtime import job, resolve_device
from mnistrobust.training import train_dae_checkpoint

with job(snakemake.log[0], snakemake.threads) as log:
    train_dae_checkpoint(
        snakemake.input.data,
        snakemake.output.checkpoint,
        settings=snakemake.params.settings,
        train_images=snakemake.params.train_images,
        test_images=snakemake.params.test_images,
        log=log,
        device=resolve_device(snakemake.config["device"]),
    )
