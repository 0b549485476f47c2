"""Rule strong_transfer_examples: PGD examples of one source method at every eps, for transfer."""

from mnistrobust.jobs.strong_attacks import make_transfer_examples
from mnistrobust.jobs.runtime import job_for, resolve_device

with job_for(snakemake) as log:
    make_transfer_examples(
        snakemake.input.data,
        snakemake.wildcards.source,
        snakemake.params.spec,
        list(snakemake.input.members),
        snakemake.params.lowpass,
        snakemake.params.settings,
        snakemake.output.examples,
        dae_checkpoint=snakemake.input.get("dae"),
        device=resolve_device(snakemake.config.get("device", "auto")),
        log=log,
    )
