"""Rule human_analysis: accuracies of humans and LeNets per noise level, their statistics, Figure 8."""

from mnistrobust.human.analysis import analyse
from mnistrobust.runtime import job

with job(snakemake.log[0], snakemake.threads) as log:
    analyse(
        snakemake.input.subjects,
        snakemake.input.lenet_answers,
        snakemake.params.responses,
        per_unit_csv=snakemake.output.per_subject,
        summary_csv=snakemake.output.summary,
        responses_csv=snakemake.output.responses,
        figure=snakemake.output.figure,
        confidence=snakemake.params.confidence,
        log=log,
    )
