"""Change capture from a real PostgreSQL's log: every insert, update and delete reaches bronze
exactly once, through crashes at every point, and a slot that cannot be trusted stops the run."""

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pyiceberg.catalog import Catalog
from typer.testing import CliRunner

from lakehouse.cli import app
from lakehouse.defs.database.resources import SourceDatabaseResource
from lakehouse.defs.database.sensors import build_change_sensor
from lakehouse.engine import engine_for
from lakehouse.iceberg.catalog import catalog_for
from lakehouse.iceberg.declarations import CHANGE_SEQUENCE, COMMIT_LSN, LoadMode, bronze_declarations
from lakehouse.ingest.database.changes import CaptureError, ChangeCapture, replication_name
from lakehouse.ingest.database.source import SourceDatabase
from lakehouse.observability.sources import ChangeCaptureSource
from lakehouse.settings import CHECKOUT_ROOT, Settings
from lakehouse_dev.generators.northwind.generator import parse_scale
from lakehouse_dev.generators.northwind.load import write_northwind
from lakehouse_dev.services.postgres import PostgresServer
from tests.medallion import materialize_medallion
from tests.source_changes import CHANGES, change_source

pytestmark = pytest.mark.stack

CAPTURED = [d for d in bronze_declarations() if d.load_mode("postgresql") is LoadMode.CDC]


@pytest.fixture
def source_url(postgres: PostgresServer) -> Iterator[str]:
    """A classic Northwind database of this test's own, as the admin; dropped with its slot after."""
    database = f"cdc_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres.url("postgres", driver="postgresql"), autocommit=True) as server:
        server.execute(f"CREATE DATABASE {database}")
    url = postgres.url(database)
    write_northwind(url, parse_scale("classic"))
    yield url
    with psycopg.connect(postgres.url("postgres", driver="postgresql"), autocommit=True) as server:
        server.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE %s",
            [f"%{database}%"],
        )
        server.execute(f"DROP DATABASE {database} WITH (FORCE)")


@pytest.fixture
def catalog(tmp_path: Path, source_url: str) -> Catalog:
    return catalog_for(Settings(home=tmp_path / "lakehouse", source_url=source_url))


def capture(catalog: Catalog, source_url: str) -> dict[str, int]:
    """One run; the rows each table's commit wrote."""
    results = ChangeCapture(catalog, SourceDatabase(source_url), CAPTURED, chunk_rows=1000).run()
    return {result.table: result.rows_written for result in results}


def bronze(catalog: Catalog, table: str) -> pa.Table:
    return catalog.load_table(("bronze", table)).scan().to_arrow()


def current_rows(catalog: Catalog, table: str) -> pa.Table:
    """Each key's latest version in bronze, unless a delete: what staging keeps (macros/versions.sql)."""
    declaration = next(d for d in CAPTURED if d.table == table)
    key, columns = ", ".join(declaration.key), ", ".join(declaration.column_names)
    versions = bronze(catalog, table)  # noqa: F841 (read by DuckDB by name)
    order = (CHECKOUT_ROOT / "dbt" / "macros" / "versions.sql").read_text().split("{% macro latest_version_first() -%}")
    latest_first = order[1].split("{%- endmacro %}")[0].strip()
    return duckdb.sql(
        f"SELECT {columns} FROM versions "
        f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {latest_first}) = 1 "
        f"AND _operation IS DISTINCT FROM 'delete' ORDER BY {key}"
    ).to_arrow_table()


def source_rows(source_url: str, table: str) -> pa.Table:
    declaration = next(d for d in CAPTURED if d.table == table)
    rows = SourceDatabase(source_url).read(declaration.source.table, declaration.column_names).read_all()
    return rows.sort_by([(column, "ascending") for column in declaration.key])


def assert_bronze_is_the_source(catalog: Catalog, source_url: str) -> None:
    for declaration in CAPTURED:
        expected = source_rows(source_url, declaration.table)
        actual = current_rows(catalog, declaration.table).cast(expected.schema)
        assert actual.num_rows == expected.num_rows > 0, declaration.table
        assert actual.equals(expected), declaration.table


def assert_each_change_once(catalog: Catalog) -> None:
    for declaration in CAPTURED:
        versions = bronze(catalog, declaration.table)
        identity = versions.select([*declaration.key, COMMIT_LSN, CHANGE_SEQUENCE])
        assert identity.group_by(identity.column_names).aggregate([]).num_rows == versions.num_rows


def test_the_snapshot_then_every_insert_update_and_delete_reach_bronze(catalog: Catalog, source_url: str) -> None:
    assert capture(catalog, source_url) == {"bronze.orders": 830, "bronze.order_details": 2155}
    assert_bronze_is_the_source(catalog, source_url)
    change_source(source_url, *CHANGES)
    written = capture(catalog, source_url)
    # Orders: one update, one delete, one insert; lines: the corrected ones, the deleted ones, one insert.
    assert written["bronze.orders"] == 3
    assert_bronze_is_the_source(catalog, source_url)
    assert_each_change_once(catalog)
    operations = bronze(catalog, "orders").filter(pc.field("order_id") == 10251)["_operation"].to_pylist()
    assert sorted(operations) == ["delete", "snapshot"]
    # Nothing new: nothing written, and a run reads nothing twice.
    assert capture(catalog, source_url) == {"bronze.orders": 0, "bronze.order_details": 0}


def test_a_transaction_longer_than_one_read_of_the_slot_loads_whole(
    catalog: Catalog, source_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    capture(catalog, source_url)
    monkeypatch.setattr("lakehouse.ingest.database.changes.DECODE_BATCH", 100)
    change_source(source_url, "UPDATE order_details SET quantity = quantity + 1")
    assert capture(catalog, source_url)["bronze.order_details"] == 2155
    assert_bronze_is_the_source(catalog, source_url)
    updates = bronze(catalog, "order_details").filter(pc.field("_operation") == "update")
    assert pc.count_distinct(updates[COMMIT_LSN]).as_py() == 1
    assert sorted(updates[CHANGE_SEQUENCE].to_pylist()) == list(range(2155))


def run_killed(catalog: Catalog, source_url: str, home: Path, point: str) -> None:
    died = subprocess.run(
        [sys.executable, "-m", "tests.stack.capture_killed", str(home), source_url, point],
        cwd=CHECKOUT_ROOT,
        capture_output=True,
        text=True,
    )
    assert died.returncode == -9, died.stderr


@pytest.mark.parametrize("point", ["before-commit", "between-commits", "before-advance"])
def test_a_run_killed_at_any_point_and_run_again_loses_and_repeats_nothing(
    catalog: Catalog, source_url: str, tmp_path: Path, point: str
) -> None:
    capture(catalog, source_url)
    change_source(source_url, *CHANGES)
    run_killed(catalog, source_url, tmp_path / "lakehouse", point)
    capture(catalog, source_url)
    assert_bronze_is_the_source(catalog, source_url)
    assert_each_change_once(catalog)
    # The changes after the crash load once too.
    change_source(source_url, "UPDATE order_details SET discount = 0.1 WHERE order_id = 10252")
    capture(catalog, source_url)
    assert_bronze_is_the_source(catalog, source_url)
    assert_each_change_once(catalog)


def test_a_first_snapshot_killed_between_its_commits_is_taken_again(
    catalog: Catalog, source_url: str, tmp_path: Path
) -> None:
    run_killed(catalog, source_url, tmp_path / "lakehouse", "between-commits")
    capture(catalog, source_url)
    assert_bronze_is_the_source(catalog, source_url)
    change_source(source_url, *CHANGES)
    capture(catalog, source_url)
    assert_bronze_is_the_source(catalog, source_url)
    assert_each_change_once(catalog)


def test_a_dropped_slot_stops_the_run_until_a_resnapshot(catalog: Catalog, source_url: str) -> None:
    capture(catalog, source_url)
    slot = replication_name(SourceDatabase(source_url))
    change_source(source_url, f"SELECT pg_drop_replication_slot('{slot}')", *CHANGES)
    with pytest.raises(CaptureError, match=rf"slot {slot} does not exist.*`lakehouse cdc resnapshot`"):
        capture(catalog, source_url)
    ChangeCapture(catalog, SourceDatabase(source_url), CAPTURED, chunk_rows=1000).resnapshot()
    assert_bronze_is_the_source(catalog, source_url)


def test_a_slot_behind_where_bronze_last_read_is_reported_not_reread(catalog: Catalog, source_url: str) -> None:
    capture(catalog, source_url)
    slot = replication_name(SourceDatabase(source_url))
    # A copy of the slot as it stands now, put back after two runs: as a restored server's would be.
    change_source(source_url, f"SELECT pg_copy_logical_replication_slot('{slot}', '{slot}_copy')")
    for statement in CHANGES[:2]:
        change_source(source_url, statement)
        capture(catalog, source_url)
    change_source(
        source_url,
        f"SELECT pg_drop_replication_slot('{slot}')",
        f"SELECT pg_copy_logical_replication_slot('{slot}_copy', '{slot}')",
    )
    with pytest.raises(CaptureError, match=rf"slot {slot} stands at .*, before .* where bronze\.\w+'s last read"):
        capture(catalog, source_url)


def test_a_truncation_stops_the_run_with_what_to_do(catalog: Catalog, source_url: str) -> None:
    capture(catalog, source_url)
    change_source(source_url, "TRUNCATE order_details")
    with pytest.raises(CaptureError, match=r"TRUNCATE of public\.order_details.*`lakehouse cdc resnapshot`"):
        capture(catalog, source_url)


# Revenue per order day as gold computes it (stg_order_details' decimals, line_total unrounded),
# computed by PostgreSQL from its own tables.
DAILY_REVENUE_IN_POSTGRESQL = """
SELECT o.order_date, count(DISTINCT o.order_id), count(*), sum(d.quantity),
       round(sum(d.unit_price::numeric(10, 2) * d.quantity * (1 - d.discount::numeric(4, 2))), 2)
FROM order_details AS d JOIN orders AS o USING (order_id)
GROUP BY o.order_date ORDER BY o.order_date
"""


def test_gold_reflects_updates_and_deletes_as_postgresql_computes_them(tmp_path: Path, source_url: str) -> None:
    settings = Settings(home=tmp_path / "lakehouse", source_url=source_url)
    removed_lines = int(
        pc.sum(pc.is_in(source_rows(source_url, "order_details")["order_id"], pa.array([10250, 10251]))).as_py()
    )
    with dg.DagsterInstance.ephemeral() as instance:
        assert materialize_medallion(settings, instance).success
        change_source(source_url, *CHANGES)
        assert materialize_medallion(settings, instance).success
    with psycopg.connect(source_url.replace("+psycopg", "")) as connection:
        expected = [tuple(row) for row in connection.execute(DAILY_REVENUE_IN_POSTGRESQL).fetchall()]
    engine = engine_for(settings)
    try:
        daily = engine.records(
            "SELECT order_date, orders, order_lines, units, revenue FROM gold.daily_revenue ORDER BY order_date"
        )
        shipped = engine.scalar("SELECT shipped_date FROM silver.sales_master WHERE order_id = 10248 LIMIT 1")
        removed = engine.scalar("SELECT count(*) FROM silver.sales_master WHERE _removed")
    finally:
        engine.close()
    assert [tuple(row.values()) for row in daily.rows] == expected
    assert str(shipped) == "1998-06-01"
    # Order 10250's lines, and order 10251's with the order.
    assert removed == removed_lines > 0


def evaluate_sensor(source_url: str) -> dg.RunRequest | dg.SkipReason:
    sensor = build_change_sensor(CAPTURED, interval_seconds=10)
    resource = SourceDatabaseResource(url=source_url, chunk_rows=1000, concurrency=1)
    with dg.DagsterInstance.ephemeral() as instance:
        tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, resources={"source_database": resource}))
    return tick.run_requests[0] if tick.run_requests else dg.SkipReason(tick.skip_message)


def test_the_change_sensor_asks_for_a_run_only_when_a_captured_table_changed(catalog: Catalog, source_url: str) -> None:
    assert "no replication slot" in str(evaluate_sensor(source_url).skip_message)
    capture(catalog, source_url)
    assert isinstance(evaluate_sensor(source_url), dg.SkipReason)
    # Log the captured tables do not see: another table of the same database.
    change_source(source_url, "CREATE TABLE unrelated (id int)", "INSERT INTO unrelated VALUES (1)")
    unrelated = evaluate_sensor(source_url)
    assert isinstance(unrelated, dg.SkipReason) and "bytes of log since the slot's position, none for" in str(
        unrelated.skip_message
    )
    change_source(source_url, CHANGES[0])
    requested = evaluate_sensor(source_url)
    assert isinstance(requested, dg.RunRequest)
    assert int(requested.tags["lakehouse/cdc-pending-bytes"]) > 0
    capture(catalog, source_url)
    assert isinstance(evaluate_sensor(source_url), dg.SkipReason)


def test_the_cli_reports_the_slot_and_takes_a_new_snapshot(
    catalog: Catalog, source_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKEHOUSE_HOME", str(tmp_path / "lakehouse"))
    monkeypatch.setenv("LAKEHOUSE_SOURCE_URL", source_url)
    capture(catalog, source_url)
    slot = replication_name(SourceDatabase(source_url))
    status = CliRunner().invoke(app, ["cdc", "status"])
    assert status.exit_code == 0, status.output
    assert f"slot {slot} at " in status.output and f"pg_drop_replication_slot('{slot}')" in status.output
    change_source(source_url, f"SELECT pg_drop_replication_slot('{slot}')", *CHANGES)
    resnapshot = CliRunner().invoke(app, ["cdc", "resnapshot"])
    assert resnapshot.exit_code == 0, resnapshot.output
    assert "bronze.orders: 830 rows from the snapshot at" in resnapshot.output
    assert_bronze_is_the_source(catalog, source_url)


def test_the_exporter_serves_the_log_the_slot_keeps(catalog: Catalog, source_url: str) -> None:
    exporter = ChangeCaptureSource(SourceDatabase(source_url))
    assert exporter.samples(None) == []  # no slot before the first load
    capture(catalog, source_url)
    change_source(source_url, CHANGES[0])
    samples = {sample.metric.name: sample for sample in exporter.samples(None)}
    slot = replication_name(SourceDatabase(source_url))
    retained, pending = samples["lakehouse_cdc_slot_retained_bytes"], samples["lakehouse_cdc_slot_pending_bytes"]
    assert retained.labels == pending.labels == (slot,)
    assert retained.value >= pending.value > 0
    capture(catalog, source_url)
    assert {sample.metric.name: sample for sample in exporter.samples(None)}[
        "lakehouse_cdc_slot_pending_bytes"
    ].value < pending.value
