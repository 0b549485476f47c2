"""Rule human_lenet_answers: each of the LeNet models classifies its own stimulus set."""

from mnistrobust.human.analysis import lenet_answers
from mnistrobust.runtime import job, resolve_device

with job(snakemake.log[0], snakemake.threads) as log:
    lenet_answers(
        snakemake.input.stimuli,
        dict(zip(snakemake.params.models, snakemake.input.checkpoints)),
        snakemake.output[0],
        device=resolve_device(snakemake.config["device"]),
        log=log,
    )
