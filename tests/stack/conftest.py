"""Real services for the stack tests, started by the project's own harness (no Docker).

Under CI=true a service that cannot start fails the test; elsewhere the test is skipped with
what is missing and how to get it.
"""

import os
from collections.abc import Iterator

import pytest

from lakehouse.services.postgres import PostgresServer, ServiceUnavailable


def unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"service unavailable under CI: {reason}")
    pytest.skip(f"service unavailable: {reason}")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer(databases=("northwind", "northwind_scratch"))
    try:
        server.start()
    except ServiceUnavailable as error:
        server.stop()
        unavailable(str(error))
    try:
        yield server
    finally:
        server.stop()
