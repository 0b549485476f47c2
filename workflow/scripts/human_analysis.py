"""Rule human_analysis: accuracies of humans and LeNets per noise level, their statistics, Figure 8."""

from mnistrobust.jobs.human import analyse
from mnistrobust.jobs.runtime import job_for

with job_for(snakemake) as log:
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
