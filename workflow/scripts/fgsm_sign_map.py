"""Rule fgsm_sign_map: a method's gradient sign over the test set (end-to-end or oblivious), in HDF5."""

from mnistrobust.jobs.attacks import make_sign_map
from mnistrobust.jobs.runtime import job_for, method_inputs, resolve_device

with job_for(snakemake) as log:
    make_sign_map(
        method_inputs(snakemake.wildcards.method, snakemake.input, snakemake.params),
        snakemake.input.data,
        snakemake.params.threat,
        snakemake.output.sign_map,
        test_images=snakemake.params.test_images,
        log=log,
        device=resolve_device(snakemake.config["device"]),
    )
