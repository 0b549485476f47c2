"""Rule human_lenet_answers: each of the LeNet models classifies its own stimulus set."""

from mnistrobust.jobs.human import lenet_answers
from mnistrobust.jobs.runtime import job_for, resolve_device

with job_for(snakemake) as log:
    lenet_answers(
        snakemake.input.stimuli,
        dict(zip(snakemake.params.models, snakemake.input.checkpoints)),
        snakemake.output[0],
        device=resolve_device(snakemake.config["device"]),
        log=log,
    )
