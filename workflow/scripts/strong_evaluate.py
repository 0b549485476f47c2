"""Rule strong_evaluate: one method under every configured attack at every eps, with its worst case."""

from mnistrobust.robustness import StrongAttackSettings, evaluate_method
from mnistrobust.runtime import job, resolve_device

with job(snakemake.log[0], snakemake.threads) as log:
    evaluate_method(
        snakemake.input.data,
        snakemake.wildcards.method,
        snakemake.params.spec,
        list(snakemake.input.members),
        snakemake.params.lowpass,
        StrongAttackSettings.from_config(snakemake.params.settings),
        snakemake.output.results,
        transfer_files=dict(zip(snakemake.params.transfer_sources, snakemake.input.transfer)),
        dae_checkpoint=snakemake.input.get("dae"),
        device=resolve_device(snakemake.config.get("device", "auto")),
        log=log,
    )
