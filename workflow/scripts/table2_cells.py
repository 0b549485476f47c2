"""Rule table2_cells: one method's error at the strengths whose dist is exactly each Table 2 dist."""

from mnistrobust.jobs.evaluation import method_under_noise_arguments, run_table2_cells
from mnistrobust.jobs.runtime import job_for

with job_for(snakemake) as log:
    run_table2_cells(
        **method_under_noise_arguments(snakemake),
        dists=snakemake.params.dists,
        output_csv=snakemake.output.cells,
        log=log,
    )
