"""The job layer: one module per rules file (workflow/rules/<name>.smk -> jobs/<name>.py).

The only layer that reads paths and writes outputs: a workflow script passes Snakemake's
inputs, params and outputs to one function here, which loads what it needs (io, data),
calls the library (nets, attacks, training, evaluation, reports) and writes the results.
"""
