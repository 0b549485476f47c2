"""Rule sweep: error and dist of one method at every noise strength of one noise type."""

from mnistrobust.jobs.evaluation import method_under_noise_arguments, run_sweep
from mnistrobust.jobs.runtime import job_for

with job_for(snakemake) as log:
    run_sweep(**method_under_noise_arguments(snakemake), output_csv=snakemake.output.curve, log=log)
