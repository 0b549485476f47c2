"""Rule strong_attacks_table: the extended table beside Table 2 and its error-vs-eps figure."""

from mnistrobust.robustness import write_strong_report
from mnistrobust.runtime import job

with job(snakemake.log[0], snakemake.threads) as log:
    write_strong_report(
        dict(zip(snakemake.params.labels, snakemake.input.results)),
        snakemake.params.settings,
        snakemake.params.reference,
        csv_path=snakemake.output.csv,
        markdown_path=snakemake.output.markdown,
        figure_path=snakemake.output.figure,
        log=log,
    )
