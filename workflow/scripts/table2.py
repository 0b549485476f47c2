"""Rule table2: read each configured method's curve at the configured distortions."""

from mnistrobust.jobs.runtime import job_for
from mnistrobust.jobs.reporting import write_table2

with job_for(snakemake) as log:
    table = write_table2(
        dict(zip(snakemake.params.labels, snakemake.input.curves)),
        snakemake.params.dists,
        csv_path=snakemake.output.csv,
        markdown_path=snakemake.output.markdown,
    )
    log("\n" + table.to_string(index=False))
