"""Rule table2: each configured row's measured cells and its curve's reading at the configured
distortions; over several replicates, their mean and interval."""

from mnistrobust.jobs.reporting import table2_job
from mnistrobust.jobs.runtime import job_for

with job_for(snakemake) as log:
    table2_job(
        snakemake.params.labels,
        snakemake.input.curves,
        snakemake.input.cells,
        snakemake.params.dists,
        snakemake.params.attacks,
        csv_path=snakemake.output.csv,
        markdown_path=snakemake.output.markdown,
        log=log,
    )
