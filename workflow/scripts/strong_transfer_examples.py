"""Rule strong_transfer_examples: PGD examples of one source method at every eps, for transfer."""

from mnistrobust.robustness import StrongAttackSettings, make_transfer_examples
from mnistrobust.runtime import job, resolve_device

with job(snakemake.log[0], snakemake.threads) as log:
    make_transfer_examples(
        snakemake.input.data,
        snakemake.wildcards.source,
        snakemake.params.spec,
        list(snakemake.input.members),
        snakemake.params.lowpass,
        StrongAttackSettings.from_config(snakemake.params.settings),
        snakemake.output.examples,
        dae_checkpoint=snakemake.input.get("dae"),
        device=resolve_device(snakemake.config.get("device", "auto")),
        log=log,
    )
