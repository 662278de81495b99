"""The bronze assets materialised in process with `dagster.materialize`, as Dagster runs them."""

import dagster as dg
import sqlalchemy as sa

from lakehouse.defs.database.assets import build_bronze_assets
from lakehouse.defs.database.checks import CHECK_DESCRIPTIONS
from lakehouse.iceberg.catalog import catalog_for
from lakehouse.iceberg.declarations import bronze_declarations
from lakehouse.ingest.database.source import SourceDatabase
from lakehouse.settings import Settings
from lakehouse_dev.generators.northwind.schema import NORTHWIND_TABLES
from tests.resources import resources_for


def materialize(settings: Settings, selection: str = "*") -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [build_bronze_assets(bronze_declarations())],
        resources=resources_for(settings),
        selection=selection,
        raise_on_error=False,
    )


def materialized(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, object]]:
    found = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        found[materialization.asset_key.path[-1]] = {k: v.value for k, v in materialization.metadata.items()}
    return found


def test_materialising_bronze_records_metadata_and_passes_checks(
    settings: Settings, classic_source: SourceDatabase
) -> None:
    result = materialize(settings)
    assert result.success
    tables = materialized(result)
    assert set(tables) == set(NORTHWIND_TABLES)
    orders = tables["orders"]
    assert orders["rows_written"] == 830
    assert orders["dagster/row_count"] == 830
    assert orders["cursor"] == "11077"
    assert str(orders["snapshot_id"]).isdigit()
    assert str(orders["table_location"]).startswith(f"file://{settings.home}/warehouse")
    assert str(orders["partition_spec"]) == "[]"
    columns = [c.name for c in orders["dagster/column_schema"].columns]  # type: ignore[attr-defined]
    # Orders are captured from PostgreSQL's log: every profile's table has room for the change.
    change = ["_operation", "_commit_lsn", "_committed_at", "_change_sequence"]
    assert columns[0] == "order_id" and columns[-6:] == ["_ingested_at", "_source", *change]
    evaluations = result.get_asset_check_evaluations()
    # Each table's checks, and its `loaded` check.
    assert len(evaluations) == (len(CHECK_DESCRIPTIONS) + 1) * len(NORTHWIND_TABLES)
    assert all(e.passed for e in evaluations), [e.check_name for e in evaluations if not e.passed]


def test_rerun_without_source_changes_writes_nothing_and_keeps_data_versions(
    settings: Settings, classic_source: SourceDatabase
) -> None:
    first = materialized(materialize(settings))
    again = materialize(settings)
    assert again.success
    second = materialized(again)
    assert {table: values["rows_written"] for table, values in second.items()} == dict.fromkeys(NORTHWIND_TABLES, 0)
    assert all(second[table]["snapshot_id"] == first[table]["snapshot_id"] for table in NORTHWIND_TABLES)
    assert second["orders"]["unchanged"] == "no new source rows"
    assert all(e.passed for e in again.get_asset_check_evaluations())


def test_a_subset_extracts_only_the_selected_tables(settings: Settings, classic_source: SourceDatabase) -> None:
    result = materialize(settings, selection="bronze/products")
    assert result.success
    assert set(materialized(result)) == {"products"}
    assert {e.asset_key.path[-1] for e in result.get_asset_check_evaluations()} == {"products"}


def test_uniqueness_check_fails_when_bronze_holds_duplicate_keys(
    settings: Settings, classic_source: SourceDatabase
) -> None:
    assert materialize(settings).success
    # Something outside the loader appends an order twice; the check must notice.
    table = catalog_for(settings).load_table(("bronze", "orders"))
    table.append(table.scan(row_filter="order_id = 10248").to_arrow())
    with classic_source.engine.begin() as connection:
        connection.execute(sa.text("UPDATE categories SET description = 'changed'"))
    result = materialize(settings)
    verdicts = {(e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert verdicts[("orders", "key_unique")] is False
    assert verdicts[("orders", "reconciles_with_source")] is False
    assert verdicts[("order_details", "key_unique")] is True
