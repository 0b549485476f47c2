"""Rule table2: each configured row's measured cells and its curve's reading at the configured
distortions; over several replicates, their mean and interval."""

from mnistrobust.jobs.reporting import write_table2
from mnistrobust.jobs.runtime import job_for


def per_replicate(paths, labels):
    """The rule's flat list (replicate 1's rows, then replicate 2's, ...) as one mapping per
    replicate (fewer for the curves than for the cells with config replicate_curves false)."""
    return [dict(zip(labels, paths[start : start + len(labels)])) for start in range(0, len(paths), len(labels))]


with job_for(snakemake) as log:
    labels = snakemake.params.labels
    table = write_table2(
        per_replicate(list(snakemake.input.curves), labels),
        snakemake.params.dists,
        replicate_cells=per_replicate(list(snakemake.input.cells), labels),
        csv_path=snakemake.output.csv,
        markdown_path=snakemake.output.markdown,
        attacks=dict(zip(labels, snakemake.params.attacks)),
    )
    log("\n" + table.to_string(index=False))
