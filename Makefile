# The two commands: `make reproduce` and `make test`. Both bootstrap .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all
# Folder holding mnist/ (and usps/) with the MNIST IDX files; empty = download.
DATA_DIR ?=
# Targets and flags for `make reproduce`, e.g. SNAKEMAKE_ARGS=paper; they go before
# --config, which takes every word after it as KEY=VALUE.
SNAKEMAKE_ARGS ?=

ifneq ($(strip $(DATA_DIR)),)
DATA_CONFIG := --config 'data={mnist_local_dir: "$(abspath $(DATA_DIR))/mnist", usps_local_dir: "$(abspath $(DATA_DIR))/usps"}'
endif

.PHONY: install reproduce test test-fast test-slurm lint bench bench-attacks bench-pipeline clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

reproduce: install
	$(BIN)/snakemake $(SNAKEMAKE_ARGS) --cores $(CORES) $(DATA_CONFIG)
	$(BIN)/snakemake $(SNAKEMAKE_ARGS) --cores 1 $(DATA_CONFIG) --report results/report.html

# Two pytest workers, one test file each at a time, in collection order: the small
# end-to-end run (test_workflow.py, collected first by tests/conftest.py) starts at once
# on one worker while the other takes every other file.
TEST_WORKERS ?= 2
test: install
	MNISTROBUST_DATA_DIR=$(if $(strip $(DATA_DIR)),$(abspath $(DATA_DIR))) $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The unit tests alone: everything but the end-to-end workflow runs (marked slow).
test-fast: install
	MNISTROBUST_DATA_DIR=$(if $(strip $(DATA_DIR)),$(abspath $(DATA_DIR))) $(BIN)/python -m pytest -q -n $(TEST_WORKERS) -m "not slow"

# The small workflow through profiles/slurm on a throw-away single-node SLURM cluster
# (tests/slurm/local_cluster.sh: apt-get installs slurmctld slurmd munge if missing; needs root).
test-slurm: install
	MNISTROBUST_DATA_DIR=$(if $(strip $(DATA_DIR)),$(abspath $(DATA_DIR))) $(BIN)/python -m pytest -q tests/slurm

lint: install
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules
	PYFLAKES_BUILTINS=snakemake $(BIN)/pyflakes src bench workflow/scripts docs/experiments tests

bench: install
	$(BIN)/python bench/benchmark.py

# PGD evaluation speed, ours vs ART, and EOT-PGD batch sizes, on the trained baseline LeNet of `make reproduce`.
bench-attacks: install
	$(BIN)/python bench/attack_benchmark.py --checkpoint results/models/lenet.pt --data results/data/mnist.h5

# Per-method images/s of the last `make reproduce`, from results/benchmarks/.
bench-pipeline: install
	$(BIN)/python bench/pipeline_report.py $(BENCH_ARGS)

clean:
	rm -rf results .snakemake
