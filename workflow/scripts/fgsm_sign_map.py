"""Rule fgsm_sign_map: the model's gradient sign over the test set, stored in HDF5."""

from mnistrobust.artifacts import make_sign_map
from mnistrobust.runtime import job

with job(snakemake.log[0], snakemake.threads) as log:
    make_sign_map(
        snakemake.input.data,
        snakemake.input.checkpoint,
        snakemake.output.sign_map,
        test_images=snakemake.params.test_images,
        log=log,
    )
