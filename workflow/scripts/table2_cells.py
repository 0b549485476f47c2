"""Rule table2_cells: one method's error at the strengths whose dist is exactly each Table 2 dist."""

from mnistrobust.jobs.evaluation import run_table2_cells
from mnistrobust.jobs.runtime import job_for, resolve_device

with job_for(snakemake) as log:
    run_table2_cells(
        snakemake.input.data,
        snakemake.wildcards.method,
        snakemake.params.spec,
        list(snakemake.input.members),
        snakemake.params.lowpass,
        snakemake.params.noise,
        snakemake.params.evaluation,
        snakemake.params.dists,
        test_images=snakemake.params.test_images,
        output_csv=snakemake.output.cells,
        dae_checkpoint=snakemake.input.get("dae"),
        sign_map=snakemake.input.get("sign_map"),
        log=log,
        device=resolve_device(snakemake.config["device"]),
    )
