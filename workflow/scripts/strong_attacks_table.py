"""Rule strong_attacks_table: the extended table beside Table 2 and its error-vs-eps figure."""

from mnistrobust.jobs.strong_attacks import write_strong_report
from mnistrobust.jobs.runtime import job_for

with job_for(snakemake) as log:
    write_strong_report(
        dict(zip(snakemake.params.labels, snakemake.input.results)),
        snakemake.params.settings,
        snakemake.params.fast_reference,
        csv_path=snakemake.output.csv,
        markdown_path=snakemake.output.markdown,
        figure_path=snakemake.output.figure,
        log=log,
    )
