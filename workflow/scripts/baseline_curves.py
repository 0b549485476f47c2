"""Rule baseline_curves: the baseline LeNet's error against dist for both noise types."""

from mnistrobust.plots import error_curves, load_curves
from mnistrobust.runtime import job

with job(snakemake.log[0], snakemake.threads) as log:
    curves = load_curves(
        {("LeNet (no method)", "gaussian"): snakemake.input.gaussian, ("LeNet (no method)", "fgsm"): snakemake.input.fgsm}
    )
    error_curves(curves, "Baseline LeNet: error against distortion", snakemake.output[0])
