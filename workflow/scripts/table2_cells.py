"""Rule table2_cells: one method's error at the strengths whose dist is exactly each Table 2 dist."""

from mnistrobust.jobs.evaluation import run_table2_cells
from mnistrobust.jobs.runtime import job_for, method_inputs, resolve_device

with job_for(snakemake) as log:
    run_table2_cells(
        method_inputs(snakemake.wildcards.method, snakemake.input, snakemake.params),
        snakemake.input.data,
        snakemake.params.noise,
        settings=snakemake.params.evaluation,
        dists=snakemake.params.dists,
        test_images=snakemake.params.test_images,
        output_csv=snakemake.output.cells,
        sign_map=snakemake.input.get("sign_map"),
        log=log,
        device=resolve_device(snakemake.config["device"]),
    )
