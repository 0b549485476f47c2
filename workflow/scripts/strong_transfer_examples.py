"""Rule strong_transfer_examples: PGD examples of one source method at every eps, for transfer."""

from mnistrobust.jobs.strong_attacks import make_transfer_examples
from mnistrobust.jobs.runtime import job_for, method_inputs, resolve_device

with job_for(snakemake) as log:
    make_transfer_examples(
        method_inputs(snakemake.wildcards.source, snakemake.input, snakemake.params),
        snakemake.input.data,
        snakemake.params.settings,
        snakemake.output.examples,
        device=resolve_device(snakemake.config["device"]),
        log=log,
    )
