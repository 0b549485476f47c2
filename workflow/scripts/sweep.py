"""Rule sweep: error and dist of one method at every noise strength of one noise type."""

from mnistrobust.jobs.evaluation import run_sweep
from mnistrobust.jobs.runtime import job_for, noise_job

with job_for(snakemake) as log:
    job = noise_job(snakemake.wildcards, snakemake.input, snakemake.params, snakemake.config)
    run_sweep(job, snakemake.output.curve, log=log)
