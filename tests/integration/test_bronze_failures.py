"""A bronze asset that fails tells Dagster what failed in one line and keeps the original error,
traceback and all, as its cause: the run log is where a data engineer looks for it."""

import socket
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from dagster_shared.error import SerializableErrorInfo
from pyiceberg.catalog.sql import SqlCatalog

from lakehouse.defs.database.assets import build_bronze_assets
from lakehouse.defs.events.assets import build_event_asset
from lakehouse.defs.landing.assets import build_landing_asset
from lakehouse.iceberg.declarations import bronze_declarations, landing_declarations, topic_declarations
from lakehouse.ingest.database.source import SourceDatabase
from lakehouse.settings import Settings
from tests.resources import resources_for


def failure_of(assets: dg.AssetsDefinition, settings: Settings) -> SerializableErrorInfo:
    result = dg.materialize([assets], resources=resources_for(settings), raise_on_error=False)
    assert not result.success
    [failure] = [event for event in result.all_events if event.is_step_failure]
    assert failure.step_failure_data.error is not None
    return failure.step_failure_data.error


def chain(error: SerializableErrorInfo) -> list[SerializableErrorInfo]:
    """The error and each of its causes (or, where there is no cause, the error it arose from)."""
    found = [error]
    while (following := found[-1].cause or found[-1].context) is not None:
        found.append(following)
    return found


def raised_in(error: SerializableErrorInfo, cls_name: str) -> str:
    """The traceback of the first error of ``cls_name`` in ``error``'s chain."""
    names = [link.cls_name for link in chain(error)]
    assert cls_name in names, f"{cls_name} is not in the run log's error chain {names}"
    return "".join(next(link for link in chain(error) if link.cls_name == cls_name).stack)


def test_a_failed_extraction_keeps_the_source_error_as_its_cause(
    settings: Settings, classic_source: SourceDatabase
) -> None:
    with classic_source.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE employees"))

    error = failure_of(build_bronze_assets(bronze_declarations()), settings)

    assert "lakehouse/ingest/database/source.py" in raised_in(error, "SourceError")
    assert error.message.strip().count("\n") == 0
    assert "bronze.employees" in error.message


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_a_kafka_load_with_the_broker_down_keeps_the_client_error_as_its_cause(settings: Settings) -> None:
    """Nothing listens on the port: the client's own error stays behind the one-line message."""
    down = Settings(home=settings.home, kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")
    [declaration] = topic_declarations()

    error = failure_of(build_event_asset(declaration), down)

    assert "lakehouse/ingest/events/client.py" in raised_in(error, "KafkaUnavailable")
    raised_in(error, "KafkaException")


def test_a_landing_load_on_a_damaged_table_keeps_the_storage_error_as_its_cause(
    settings: Settings, catalog: SqlCatalog
) -> None:
    [declaration] = landing_declarations()
    metadata = Path(catalog.load_table(("bronze", declaration.table)).metadata_location.removeprefix("file://"))
    metadata.unlink()

    error = failure_of(build_landing_asset(declaration), settings)

    raised_in(error, "FileNotFoundError")
