"""Rule figure1: example digits under both noise types at several distortions."""

from mnistrobust.jobs.reporting import figure1
from mnistrobust.jobs.runtime import job_for

with job_for(snakemake) as log:
    figure1(
        snakemake.input.data,
        snakemake.input.sign_map,
        {"gaussian": snakemake.input.gaussian, "fgsm": snakemake.input.fgsm},
        dists=snakemake.params.dists,
        digits=snakemake.params.digits,
        seed=snakemake.params.noise_seed,
        output=snakemake.output[0],
        log=log,
    )
