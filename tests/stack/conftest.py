"""Real services for the stack tests, started by the project's own harness (no Docker).

One `Stack` on free ports serves the session; each server starts the first time a test asks
for it. Under CI=true a service that cannot start fails the test; elsewhere the test is
skipped with what is missing and how to get it.
"""

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest

from lakehouse.instance import prepare_dagster_home
from lakehouse.security.database_roles import apply_change_capture, as_admin
from lakehouse_dev.generators.northwind.generator import parse_scale
from lakehouse_dev.generators.northwind.load import write_northwind
from lakehouse_dev.services.kafka import KafkaBroker
from lakehouse_dev.services.minio import MinioServer
from lakehouse_dev.services.postgres import PostgresServer
from lakehouse_dev.services.process import ServiceUnavailable
from lakehouse_dev.services.stack import Server, Stack, stack_settings
from lakehouse_dev.services.trino import TrinoServer
from tests.medallion import materialize_medallion

HOW_TO_GET_THEM = (
    "the harness installs them itself given the Debian package `postgresql` (installed when run as root), "
    "Go for MinIO, Maven for Kafka's jars and network access to Maven Central and the Go module proxy"
)


def unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"service unavailable under CI: {reason}")
    pytest.skip(f"service unavailable: {reason}\n({HOW_TO_GET_THEM})")


@pytest.fixture(scope="session")
def services_dir() -> Iterator[Path]:
    """Data directories for the session's servers, outside pytest's own temporary directory,
    which the `postgres` system user could not enter."""
    directory = Path(tempfile.mkdtemp(prefix="lakehouse-services-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(services_dir: Path) -> Iterator[Stack]:
    """The session's servers, not yet started; stopped at the end of the session."""
    servers = Stack(stack_settings(services_dir / "home"), services_dir)
    servers.postgres.databases += ("northwind_scratch",)
    try:
        yield servers
    finally:
        servers.stop()


def started(server: Server, start: Callable[[], object] | None = None) -> None:
    """``server`` running, started by ``start`` (by default its own ``start``) unless it already is."""
    if server.process is not None:
        return
    try:
        (start or server.start)()
    except ServiceUnavailable as error:
        server.stop()
        unavailable(str(error))


@pytest.fixture(scope="session")
def postgres(stack: Stack) -> PostgresServer:
    started(stack.postgres, stack.start_postgres)
    return stack.postgres


@pytest.fixture(scope="session")
def minio(stack: Stack) -> MinioServer:
    started(stack.minio, stack.start_minio)
    return stack.minio


@pytest.fixture(scope="session")
def kafka(stack: Stack) -> KafkaBroker:
    started(stack.kafka)
    return stack.kafka


@pytest.fixture(scope="session")
def trino(stack: Stack, postgres: PostgresServer, minio: MinioServer) -> TrinoServer:
    started(stack.trino, stack.start_trino)
    return stack.trino


@pytest.fixture(scope="session")
def running_stack(stack: Stack, trino: TrinoServer, kafka: KafkaBroker) -> Stack:
    """Every server of the stack, for the end-to-end tests."""
    return stack


StackMedallion = tuple[dg.ExecuteInProcessResult, dg.DagsterInstance]


@pytest.fixture(scope="session")
def stack_medallion(running_stack: Stack) -> StackMedallion:
    """The classic Northwind through bronze, silver and gold on the stack, as the pipeline's own login
    runs it; the run and the Dagster instance (in PostgreSQL) that stored it."""
    settings = running_stack.settings
    write_northwind(as_admin(settings, settings.source_url), parse_scale("classic"))
    apply_change_capture(settings)  # as `lakehouse generate` does: the new tables join the publication
    instance = dg.DagsterInstance.from_config(str(prepare_dagster_home(settings)))
    return materialize_medallion(settings, instance), instance
