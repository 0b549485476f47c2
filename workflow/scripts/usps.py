"""Rule usps: fetch the USPS test split from the configured sources, verify its MD5, store as HDF5."""

from mnistrobust.jobs.data import acquire_usps
from mnistrobust.jobs.runtime import job_for

with job_for(snakemake) as log:
    acquire_usps(
        snakemake.output[0], snakemake.config["data"]["usps_sources"], snakemake.config["data"]["usps_local_dir"], log=log
    )
