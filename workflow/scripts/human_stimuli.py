"""Rule human_stimuli: draw the stimulus sets of the subjects or of the LeNets into one HDF5 file."""

from mnistrobust.human.stimuli import build_stimulus_file
from mnistrobust.runtime import job

with job(snakemake.log[0], snakemake.threads) as log:
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
