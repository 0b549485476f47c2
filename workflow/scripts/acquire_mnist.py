"""Rule mnist: fetch MNIST from the configured sources, verify MD5s, store as HDF5."""

from mnistrobust.jobs.data import acquire_mnist
from mnistrobust.jobs.runtime import job_for

with job_for(snakemake) as log:
    sources = snakemake.config["data"]
    acquire_mnist(snakemake.output[0], sources["mnist_sources"], sources["mnist_local_dir"], log=log)
