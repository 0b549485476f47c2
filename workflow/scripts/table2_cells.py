"""Rule table2_cells: one method's error at the strengths whose dist is exactly each Table 2 dist."""

from mnistrobust.jobs.evaluation import run_table2_cells
from mnistrobust.jobs.runtime import job_for, noise_job

with job_for(snakemake) as log:
    job = noise_job(snakemake.wildcards, snakemake.input, snakemake.params, snakemake.config)
    run_table2_cells(job, snakemake.params.dists, snakemake.output.cells, log=log)
