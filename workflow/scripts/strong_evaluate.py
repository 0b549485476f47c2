"""Rule strong_evaluate: one method under every configured attack at every eps, with its worst case."""

from mnistrobust.jobs.strong_attacks import evaluate_method
from mnistrobust.jobs.runtime import job_for, resolve_device

with job_for(snakemake) as log:
    evaluate_method(
        snakemake.input.data,
        snakemake.wildcards.method,
        snakemake.params.spec,
        list(snakemake.input.members),
        snakemake.params.lowpass,
        snakemake.params.settings,
        snakemake.output.results,
        transfer_files=dict(zip(snakemake.params.transfer_sources, snakemake.input.transfer)),
        dae_checkpoint=snakemake.input.get("dae"),
        device=resolve_device(snakemake.config.get("device", "auto")),
        log=log,
    )
