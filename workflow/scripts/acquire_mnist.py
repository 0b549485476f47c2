"""Rule mnist: fetch MNIST from the configured sources, verify MD5s, store as HDF5."""

from mnistrobust.data import acquire_mnist
from mnistrobust.runtime import job

with job(snakemake.log[0], snakemake.threads) as log:
    sources = snakemake.config["data"]
    acquire_mnist(snakemake.output[0], sources["mnist_sources"], sources["mnist_local_dir"], log=log)
