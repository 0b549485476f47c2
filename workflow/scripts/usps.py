"""Rule usps: fetch the USPS test split from the configured sources, verify its MD5, store as HDF5."""

from mnistrobust.jobs.data import acquire_usps
from mnistrobust.jobs.runtime import job_for

with job_for(snakemake) as log:
    sources = snakemake.config["data"]
    acquire_usps(snakemake.output[0], sources["usps_sources"], sources["usps_local_dir"], log=log)
