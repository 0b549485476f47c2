"""Rule strong_evaluate: one method under every configured attack at every eps, with its worst case."""

from mnistrobust.jobs.strong_attacks import evaluate_method
from mnistrobust.jobs.runtime import job_for, method_inputs, resolve_device

with job_for(snakemake) as log:
    evaluate_method(
        method_inputs(snakemake.wildcards.method, snakemake.input, snakemake.params),
        snakemake.input.data,
        snakemake.params.settings,
        snakemake.output.results,
        transfer_files=dict(zip(snakemake.params.transfer_sources, snakemake.input.transfer)),
        device=resolve_device(snakemake.config["device"]),
        log=log,
    )
