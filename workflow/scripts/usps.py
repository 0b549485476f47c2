"""Rule usps: fetch the USPS test split from the configured sources, verify its MD5, store as HDF5."""

from mnistrobust.data import acquire_usps
from mnistrobust.runtime import job

with job(snakemake.log[0], snakemake.threads) as log:
    sources = snakemake.config["data"]
    acquire_usps(snakemake.output[0], sources["usps_sources"], sources["usps_local_dir"], log=log)
