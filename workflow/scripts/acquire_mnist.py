"""Rule mnist: fetch MNIST from the configured sources, verify MD5s, store as HDF5."""

from mnistrobust.data import acquire_mnist
from mnistrobust.runtime import job

with job(snakemake.log[0], snakemake.threads) as log:
    acquire_mnist(snakemake.output[0], snakemake.params.sources, snakemake.params.local_dir, log=log)
