"""Rule human_stimuli: draw the stimulus sets of the subjects or of the LeNets into one HDF5 file."""

from mnistrobust.jobs.human import build_stimulus_file
from mnistrobust.jobs.runtime import job_for

with job_for(snakemake) as log:
    build_stimulus_file(
        snakemake.input.data,
        snakemake.input.usps,
        snakemake.input.sign_map,
        snakemake.output.stimuli,
        group=snakemake.wildcards.group,
        sets=snakemake.params.sets,
        settings=snakemake.params.settings,
        test_images=snakemake.params.test_images,
        log=log,
    )
