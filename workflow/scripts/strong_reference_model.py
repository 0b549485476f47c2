"""Rule strong_reference_model: LeNet with PGD adversarial training (Madry et al.), the reference row."""

from mnistrobust.jobs.strong_attacks import train_pgd_reference
from mnistrobust.jobs.runtime import job_for, resolve_device

with job_for(snakemake) as log:
    train_pgd_reference(
        snakemake.input.data,
        snakemake.output.checkpoint,
        snakemake.params.reference,
        snakemake.params.solver,
        train_images=snakemake.params.train_images,
        test_images=snakemake.params.test_images,
        init_checkpoint=snakemake.input.get("init"),
        device=resolve_device(snakemake.config.get("device", "auto")),
        log=log,
    )
