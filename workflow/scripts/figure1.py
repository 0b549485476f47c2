"""Rule figure1: example digits under both noise types at several distortions."""

from mnistrobust.digit_figures import noise_examples
from mnistrobust.runtime import job

with job(snakemake.log[0], snakemake.threads) as log:
    noise_examples(
        snakemake.input.data,
        snakemake.input.sign_map,
        {"gaussian": snakemake.input.gaussian, "fgsm": snakemake.input.fgsm},
        dists=snakemake.params.dists,
        digits=snakemake.params.digits,
        seed=snakemake.params.noise_seed,
        output=snakemake.output[0],
    )
