"""Rule lowpass_calibration: clean error of the LeNet behind each low-pass filter and noise strength."""

from mnistrobust.evaluation import lowpass_clean_errors
from mnistrobust.runtime import job, resolve_device

with job(snakemake.log[0], snakemake.threads) as log:
    lowpass_clean_errors(
        snakemake.input.data,
        snakemake.input.checkpoint,
        snakemake.params.lowpass,
        snakemake.params.lowpass["calibration_sigmas"],
        test_images=snakemake.params.test_images,
        output_csv=snakemake.output.csv,
        log=log,
        device=resolve_device(snakemake.config["device"]),
    )
