"""Rule error_curves_figure: one configured error-versus-dist figure (Figs. 3-7, baseline curves)."""

from mnistrobust.plots import figure_from_spec
from mnistrobust.runtime import job

with job(snakemake.log[0], snakemake.threads) as log:
    figure_from_spec(
        snakemake.params.spec["curves"],
        list(snakemake.input.curves),
        snakemake.params.spec["title"],
        snakemake.output[0],
    )
