# The lakehouse's code location, Dagster webserver and daemon, and the `lakehouse` CLI: one image.
#
#   docker compose build          (docker-compose.yml builds it as lakehouse:local)
#
# Multi-stage: the MinIO stages build the compose stack's object store; the build stage installs
# the pinned dependencies with uv into a virtualenv, compiles the bytecode and prepares the dbt
# manifest for the `trino` target the stack runs; the runtime stage, last and so the default,
# copies the result and runs as a non-root user.

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm
ARG GO_IMAGE=golang:1.26.8-bookworm
# The MinIO commit the services harness builds (lakehouse_dev/services/minio.py; a test keeps them equal).
ARG MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

# MinIO for docker-compose, built from source as the harness builds it: MinIO publishes no
# images of its community edition any more.
FROM ${GO_IMAGE} AS minio-build
ARG MINIO_VERSION
RUN CGO_ENABLED=0 go install github.com/minio/minio@${MINIO_VERSION}

FROM debian:bookworm-20251117-slim AS minio
RUN apt-get update && apt-get install -y --no-install-recommends curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10002 --create-home minio && mkdir /data && chown minio /data
COPY --from=minio-build /go/bin/minio /usr/local/bin/minio
USER minio
ENTRYPOINT ["minio"]

FROM ${PYTHON_IMAGE} AS build
# The uv the Makefile installs with.
RUN pip install --no-cache-dir "uv==0.13.9"
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
WORKDIR /opt/lakehouse
RUN uv venv /opt/venv
# Dependencies first, from the pinned versions alone: a change to the code does not reinstall them.
COPY pyproject.toml constraints.txt README.md ./
RUN mkdir -p lakehouse lakehouse_dev && touch lakehouse/__init__.py lakehouse_dev/__init__.py \
    && uv pip install --python /opt/venv/bin/python -c constraints.txt . \
    && uv pip uninstall --python /opt/venv/bin/python lakehouse
COPY lakehouse ./lakehouse
COPY lakehouse_dev ./lakehouse_dev
COPY dbt ./dbt
COPY iceberg ./iceberg
COPY trino ./trino
# Editable: the code finds dbt/ and iceberg/ beside it, as in a checkout.
RUN uv pip install --python /opt/venv/bin/python --no-deps -e . \
    && python -m compileall -q lakehouse lakehouse_dev
# The jars Spark loads beside its own, from Maven Central and checked as `make install` does,
# into .cache/spark-jars, where the settings look by default.
RUN python -m lakehouse_dev.services.spark
# The manifest the dbt assets load, and its partial parse, for the target the stack runs.
RUN LAKEHOUSE_DBT_TARGET=trino dbt parse --quiet --project-dir dbt --profiles-dir dbt --target trino

FROM ${PYTHON_IMAGE} AS runtime
# The JVM the Spark models run on (`local[*]` in the run's own process), Java 17 as Spark 4.1 supports.
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --gid 10001 lakehouse \
    && useradd --uid 10001 --gid lakehouse --home-dir /var/lib/lakehouse --create-home lakehouse \
    && mkdir -p /opt/dagster/home && chown lakehouse:lakehouse /opt/dagster/home
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=lakehouse:lakehouse /opt/lakehouse /opt/lakehouse
COPY docker/dagster.yaml docker/workspace.yaml /opt/dagster/home/
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/home \
    LAKEHOUSE_HOME=/var/lib/lakehouse
WORKDIR /opt/lakehouse
USER lakehouse
# The code location's gRPC server; compose runs the webserver and the daemon from the same image.
EXPOSE 4000
CMD ["dagster", "api", "grpc", "-m", "lakehouse.definitions", "-h", "0.0.0.0", "-p", "4000"]

# JupyterLab and the notebooks, on the runtime image (compose's `jupyter`, profile `notebooks`).
FROM build AS notebooks-build
RUN uv pip install --python /opt/venv/bin/python -c constraints.txt -e ".[notebooks]"

FROM runtime AS notebooks
COPY --from=notebooks-build /opt/venv /opt/venv
COPY --chown=lakehouse:lakehouse notebooks /opt/lakehouse/notebooks
EXPOSE 8888
