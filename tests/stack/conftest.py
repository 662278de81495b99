"""Real services for the stack tests, started by the project's own harness (no Docker).

Under CI=true a service that cannot start fails the test; elsewhere the test is skipped with
what is missing and how to get it.
"""

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehouse.services.kafka import KafkaBroker
from lakehouse.services.minio import MinioServer
from lakehouse.services.postgres import PostgresServer
from lakehouse.services.process import ServiceUnavailable


def unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"service unavailable under CI: {reason}")
    pytest.skip(f"service unavailable: {reason}")


@pytest.fixture(scope="session")
def services_dir() -> Iterator[Path]:
    """Data directories for the session's servers, outside pytest's own temporary directory,
    which the `postgres` system user could not enter."""
    directory = Path(tempfile.mkdtemp(prefix="lakehouse-services-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres(services_dir: Path) -> Iterator[PostgresServer]:
    server = PostgresServer(services_dir / "postgres", databases=("northwind", "northwind_scratch"))
    try:
        server.start()
    except ServiceUnavailable as error:
        server.stop()
        unavailable(str(error))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def kafka(services_dir: Path) -> Iterator[KafkaBroker]:
    broker = KafkaBroker(services_dir / "kafka")
    try:
        broker.start()
    except ServiceUnavailable as error:
        broker.stop()
        unavailable(str(error))
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def minio(services_dir: Path) -> Iterator[MinioServer]:
    server = MinioServer(services_dir / "minio")
    try:
        server.start()
    except ServiceUnavailable as error:
        server.stop()
        unavailable(str(error))
    try:
        yield server
    finally:
        server.stop()
