# Everything runs from the project's own virtualenv, created on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export LAKEHOUSE_HOME ?= $(CURDIR)/.lakehouse
export DAGSTER_HOME ?= $(LAKEHOUSE_HOME)/dagster
SCALE ?= 1M,10M
DEV_PORT ?= 3000
VIEWER_PORT ?= 3002
NOTEBOOK_PORT ?= 8888
DEV_PID := $(LAKEHOUSE_HOME)/dagster-dev.pid

.PHONY: install demo dev dev-stop viewer notebook test test-unit lint bench bench-stack services-up services-down clean

DBT := $(BIN)/dbt --quiet
DBT_MANIFEST := dbt/target/manifest.json
DBT_SOURCES := dbt/dbt_project.yml dbt/profiles.yml $(shell find dbt/models dbt/macros dbt/tests -type f 2>/dev/null)

$(BIN)/lakehouse: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip --version >/dev/null 2>&1 || $(BIN)/python -m ensurepip --upgrade >/dev/null
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
	# Bytecode compiled once at install: every dbt and Dagster process starts seconds faster,
	# most of all where PYTHONDONTWRITEBYTECODE stops Python from caching it on first import.
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -c constraints.txt -e ".[dev,notebooks]"
	# The project's own modules too: an editable install leaves them to be compiled at each import.
	$(BIN)/python -m compileall -q lakehouse lakehouse_dev
	touch $@

# The manifest the dbt assets load is prepared at build time, not when the code location loads.
# Its partial parse is copied into every run's target path, and dbt reuses it only for the
# target it was made for: the duckdb target `local`'s runs pass as `--target`. Otherwise each
# run re-parses the whole project (about 4 s).
$(DBT_MANIFEST): $(BIN)/lakehouse $(DBT_SOURCES)
	$(DBT) parse --project-dir dbt --profiles-dir dbt --target duckdb

# The jars Spark loads beside its own (Iceberg's runtime, S3FileIO, the JDBC drivers), from Maven
# Central into LAKEHOUSE_SPARK_JARS_DIR once: a Spark session downloads nothing.
install: $(BIN)/lakehouse $(DBT_MANIFEST)
	$(BIN)/python -m lakehouse_dev.services.spark >/dev/null

demo: install
	$(BIN)/lakehouse generate --scale classic --if-missing
	$(BIN)/lakehouse init
	$(BIN)/lakehouse materialize --job medallion
	$(BIN)/lakehouse tables
	$(BIN)/lakehouse kpis

# `lakehouse dagster-home` writes dagster.yaml for the profile: PostgreSQL storage on `stack`.
# `exec` makes `dagster dev` the process whose id the shell writes down, so Ctrl-C and
# `make dev-stop`'s SIGTERM reach it, and it shuts its webserver and daemon down itself.
# `env --default-signal` because `make dev &` from a script starts with SIGINT ignored, which
# dagster dev's children would inherit and so never stop.
dev: install
	$(BIN)/lakehouse init
	$(BIN)/lakehouse dagster-home >/dev/null
	echo $$$$ >$(DEV_PID) && exec env --default-signal=INT,QUIT $(BIN)/dagster dev -m lakehouse.definitions -p $(DEV_PORT)

# Stops the process `make dev` recorded, and only if it still is `dagster dev`: after a crash
# the id may belong to another process by now.
dev-stop:
	@pid=$$(cat $(DEV_PID) 2>/dev/null) || { echo "make dev is not running: no $(DEV_PID)"; exit 0; }; \
	if ps -p $$pid -o args= | grep -q "dagster dev"; then \
		kill -TERM $$pid; \
		for _ in $$(seq 240); do ps -p $$pid >/dev/null || break; sleep 0.5; done; \
		if ps -p $$pid >/dev/null; then echo "dagster dev (process $$pid) is still shutting down after 120 s"; exit 1; fi; \
		echo "stopped dagster dev (process $$pid)"; \
	fi; \
	rm -f $(DEV_PID)

# JupyterLab on 127.0.0.1 over notebooks/, with the project's venv as its kernel: the notebooks
# read the same LAKEHOUSE_* settings (LAKEHOUSE_PROFILE=stack for Trino). It prints its URL.
# Dagster's UI for the Viewer role: runs, assets, logs and lineage of the same instance, with
# every launch, materialization and schedule switch refused (`--read-only`).
viewer: install
	$(BIN)/lakehouse dagster-home >/dev/null
	exec env --default-signal=INT,QUIT $(BIN)/dagster-webserver --read-only -m lakehouse.definitions -h 127.0.0.1 -p $(VIEWER_PORT)

notebook: install
	$(BIN)/jupyter lab --no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port=$(NOTEBOOK_PORT) --ServerApp.root_dir=notebooks

# `dg` warns when no virtualenv is active; VIRTUAL_ENV names the project's own.
test: install
	$(BIN)/ruff check lakehouse lakehouse_dev tests bench
	$(BIN)/ruff format --check lakehouse lakehouse_dev tests bench
	$(BIN)/mypy
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/dg check defs
	$(BIN)/pytest

# The pure tests: no server, no dbt run, under a minute.
test-unit: install
	$(BIN)/pytest tests/unit

lint: install
	$(BIN)/ruff check --fix lakehouse lakehouse_dev tests bench
	$(BIN)/ruff format lakehouse lakehouse_dev tests bench
	$(BIN)/python -m lakehouse_dev.notebooks

bench: install
	$(BIN)/python -m bench.extraction --scale $(SCALE)
	$(BIN)/python -m bench.medallion --scale $(SCALE)
	$(BIN)/python -m bench.landing --rows 5000000
	$(BIN)/python -m bench.events --count 1000000
	$(BIN)/python -m bench.latency --files 10 --events 10
	$(BIN)/python -m bench.cdc --scale 1M --rounds 3 --changes 10
	$(BIN)/python -m bench.spark --scale $(SCALE) --rounds 3
	$(BIN)/python -m bench.noop --runs 5
	$(BIN)/python -m bench.incremental --scale 1M --rounds 3
	$(BIN)/python -m bench.query --runs 10
	$(BIN)/python -m bench.maintenance --deliveries 500 --batches 500
	$(BIN)/python -m bench.metrics --scale classic,10M
	$(BIN)/python -m bench.notebooks --runs 3

# PostgreSQL, MinIO, Kafka and Trino for LAKEHOUSE_PROFILE=stack, without Docker; installed
# once into .cache/services, data kept under $(LAKEHOUSE_HOME)/services.
services-up: install
	$(BIN)/lakehouse services up

services-down: install
	$(BIN)/lakehouse services down

bench-stack: install
	$(BIN)/python -m bench.stack

# dbt/ holds only what dbt builds: `make install` parses the manifest again.
clean:
	rm -rf $(LAKEHOUSE_HOME) dbt/target dbt/target-* dbt/logs .pytest_cache .ruff_cache
