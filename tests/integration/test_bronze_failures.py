"""A bronze load that fails stays local: its `loaded` check fails with one line saying what went
wrong and the original traceback in its metadata (the run log is where a data engineer looks for
it), the table stays as it was, and only the models downstream of it are left out of the run."""

import socket
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from pyiceberg.catalog.sql import SqlCatalog

from lakehouse.defs.bronze import LOADED
from lakehouse.defs.database.assets import build_bronze_assets
from lakehouse.defs.events.assets import build_event_asset
from lakehouse.defs.landing.assets import build_landing_asset
from lakehouse.defs.medallion.assets import DBT_PROJECT_DIR, dbt_models
from lakehouse.iceberg.catalog import catalog_for
from lakehouse.iceberg.declarations import bronze_declarations, landing_declarations, topic_declarations
from lakehouse.ingest.database.source import SourceDatabase
from lakehouse.settings import Settings
from tests.medallion import materialize_medallion
from tests.resources import resources_for

pytestmark = pytest.mark.bad_input

[TOPIC] = topic_declarations()
[LANDING] = landing_declarations()


def failed_load(result: dg.ExecuteInProcessResult, table: str) -> dg.AssetCheckEvaluation:
    [check] = [
        c
        for c in result.get_asset_check_evaluations()
        if c.check_name == LOADED and c.asset_key == dg.AssetKey(["bronze", table])
    ]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.description is not None and check.description.startswith(f"bronze.{table} was not loaded: ")
    return check


def traceback_of(check: dg.AssetCheckEvaluation) -> str:
    text = check.metadata["traceback"].value
    assert isinstance(text, str)
    return text


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_a_failed_extraction_fails_its_table_only_and_keeps_the_source_traceback(
    settings: Settings, classic_source: SourceDatabase
) -> None:
    with classic_source.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE employees"))

    result = dg.materialize([build_bronze_assets(bronze_declarations())], resources=resources_for(settings))

    check = failed_load(result, "employees")
    assert "SourceError" in traceback_of(check) and "lakehouse/ingest/database/source.py" in traceback_of(check)
    assert "\n" not in (check.description or "")
    loaded = {c.asset_key.path[-1] for c in result.get_asset_check_evaluations() if c.check_name == LOADED and c.passed}
    assert loaded == {"categories", "customers", "orders", "order_details", "products"}


def test_a_kafka_load_with_the_broker_down_fails_its_check_with_the_client_error(settings: Settings) -> None:
    """Nothing listens on the port: the client's own error is in the traceback behind the one line."""
    down = Settings(home=settings.home, kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")

    result = dg.materialize([build_event_asset(TOPIC)], resources=resources_for(down))

    trace = traceback_of(failed_load(result, TOPIC.table))
    assert "KafkaUnavailable" in trace and "lakehouse/ingest/events/client.py" in trace


def test_a_landing_load_on_a_damaged_table_fails_its_check_with_the_storage_error(
    settings: Settings, catalog: SqlCatalog
) -> None:
    metadata = Path(catalog.load_table(("bronze", LANDING.table)).metadata_location.removeprefix("file://"))
    metadata.unlink()

    result = dg.materialize([build_landing_asset(LANDING)], resources=resources_for(settings))

    assert "FileNotFoundError" in traceback_of(failed_load(result, LANDING.table))


def snapshots(settings: Settings) -> dict[str, int | None]:
    catalog = catalog_for(settings)
    tables = {"silver": ["stg_customers", "stg_categories", "stg_sales_events", "sales_master"], "gold": ["sales_kpis"]}
    return {
        f"{namespace}.{name}": (
            snapshot.snapshot_id if (snapshot := catalog.load_table((namespace, name)).current_snapshot()) else None
        )
        for namespace, names in tables.items()
        for name in names
    }


def test_a_failing_source_skips_only_the_models_downstream_of_it(
    settings: Settings, classic_source: SourceDatabase
) -> None:
    assert materialize_medallion(settings).success
    before = snapshots(settings)
    with classic_source.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE categories"))
    down = Settings(home=settings.home, kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")
    models = dbt_models(DBT_PROJECT_DIR, down.dbt_target)
    assets = [build_bronze_assets(bronze_declarations()), build_event_asset(TOPIC), models]

    result = dg.materialize(assets, resources=resources_for(down), raise_on_error=False)

    assert result.success
    failed_load(result, "categories")
    failed_load(result, TOPIC.table)
    built = {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}
    assert {"silver/stg_customers", "silver/stg_orders", "silver/stg_order_details"} <= built
    assert not {"silver/stg_categories", "silver/sales_master", "silver/stg_sales_events", "gold/sales_kpis"} & built
    after = snapshots(settings)
    assert after["silver.stg_customers"] != before["silver.stg_customers"]
    assert {name: after[name] for name in after if name != "silver.stg_customers"} == {
        name: before[name] for name in before if name != "silver.stg_customers"
    }
