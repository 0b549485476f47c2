"""Rule sweep: error and dist of one model at every noise strength of one noise type."""

from mnistrobust.evaluation import run_sweep
from mnistrobust.runtime import job

with job(snakemake.log[0], snakemake.threads) as log:
    run_sweep(
        snakemake.input.data,
        snakemake.input.checkpoint,
        snakemake.params.noise,
        snakemake.params.evaluation,
        test_images=snakemake.params.test_images,
        output_csv=snakemake.output.curve,
        sign_map=snakemake.input.get("sign_map"),
        log=log,
    )
