"""Rule table2: each configured row's measured cells and its curve's reading at the configured distortions."""

from mnistrobust.jobs.runtime import job_for
from mnistrobust.jobs.reporting import write_table2

with job_for(snakemake) as log:
    table = write_table2(
        dict(zip(snakemake.params.labels, snakemake.input.curves)),
        snakemake.params.dists,
        cells_paths=dict(zip(snakemake.params.labels, snakemake.input.cells)),
        csv_path=snakemake.output.csv,
        markdown_path=snakemake.output.markdown,
        attacks=dict(zip(snakemake.params.labels, snakemake.params.attacks)),
    )
    log("\n" + table.to_string(index=False))
