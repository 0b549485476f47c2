"""Rule lowpass_calibration: clean error of the LeNet behind each low-pass filter and noise strength."""

from mnistrobust.jobs.evaluation import lowpass_calibration
from mnistrobust.jobs.runtime import job_for, resolve_device

with job_for(snakemake) as log:
    lowpass_calibration(
        snakemake.input.data,
        snakemake.input.checkpoint,
        snakemake.params.lowpass,
        test_images=snakemake.params.test_images,
        output_csv=snakemake.output.csv,
        log=log,
        device=resolve_device(snakemake.config["device"]),
    )
