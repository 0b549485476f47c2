"""Rule error_curves_figure: one configured error-versus-dist figure (Figs. 3-7, baseline curves)."""

from mnistrobust.jobs.reporting import error_curves_figure
from mnistrobust.jobs.runtime import job_for

with job_for(snakemake) as log:
    error_curves_figure(
        snakemake.params.spec["curves"],
        list(snakemake.input.curves),
        snakemake.params.spec["title"],
        snakemake.output[0],
        snakemake.params.table2_rows,
        replicates=snakemake.params.replicates,
    )
