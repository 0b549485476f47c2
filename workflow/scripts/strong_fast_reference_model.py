"""Rule strong_fast_reference_model: LeNet with fast adversarial training (Wong et al.), a reference row."""

from mnistrobust.jobs.strong_attacks import train_fast_reference
from mnistrobust.jobs.runtime import job_for, resolve_device

with job_for(snakemake) as log:
    train_fast_reference(
        snakemake.input.data,
        snakemake.output.checkpoint,
        snakemake.params.fast_reference,
        train_images=snakemake.params.train_images,
        test_images=snakemake.params.test_images,
        device=resolve_device(snakemake.config["device"]),
        log=log,
    )
