"""The `stack` profile end to end on the real servers.

Northwind generated into PostgreSQL, extracted to bronze on MinIO through pyiceberg, silver and
gold built by dbt's trino target, Dagster's runs stored in PostgreSQL, queries through Trino.
For the same generated data, gold equals the `local` profile's to the cent.
"""

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

from lakehouse.engine import LocalEngine, TrinoEngine
from lakehouse.iceberg.catalog import catalog_for
from lakehouse.security.database_roles import as_admin
from lakehouse.settings import Settings
from lakehouse_dev.services.stack import Stack, recorded_processes, stack_settings
from tests.incremental import REFRESH_COLUMNS, check_incremental_equals_full
from tests.medallion import GOLD, BuiltLakehouse, materialize_medallion
from tests.notebooks import LAKEHOUSE_CLI, assert_each_notebook_shows_the_cli_figure
from tests.source_changes import CHANGES, change_source
from tests.stack.conftest import StackMedallion, unavailable

pytestmark = pytest.mark.stack


def sorted_rows(rows: pa.Table) -> list[dict[str, Any]]:
    return sorted(rows.to_pylist(), key=lambda row: [str(value) for value in row.values()])


def figures(rows: pa.Table) -> list[dict[str, Any]]:
    """The rows without the stamps of when each group was refreshed, which differ between builds."""
    return sorted_rows(rows.drop_columns([name for name in rows.column_names if name in REFRESH_COLUMNS]))


@pytest.fixture(scope="module")
def local_gold(classic_lakehouse: BuiltLakehouse) -> dict[str, list[dict[str, Any]]]:
    assert classic_lakehouse.run.success
    engine = LocalEngine(catalog_for(classic_lakehouse.settings))
    try:
        return {table: figures(engine.query(f"SELECT * FROM gold.{table}")) for table in GOLD}
    finally:
        engine.close()


@pytest.fixture(scope="module")
def stack_environment(running_stack: Stack) -> Settings:
    return running_stack.settings


@pytest.fixture
def trino_engine(stack_environment: Settings) -> Iterator[TrinoEngine]:
    engine = TrinoEngine(stack_environment)
    yield engine
    engine.close()


def test_the_medallion_runs_on_stack_with_dagster_storage_in_postgres(
    stack_medallion: StackMedallion, stack_environment: Settings
) -> None:
    result, instance = stack_medallion
    assert result.success
    assert all(check.passed for check in result.get_asset_check_evaluations())
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    with sa.create_engine(stack_environment.dagster_storage_url).connect() as connection:
        stored = connection.execute(sa.text("SELECT status FROM runs WHERE run_id = :id"), {"id": result.run_id})
        assert stored.scalar_one() == "SUCCESS"


@pytest.mark.usefixtures("stack_medallion")
def test_every_gold_table_equals_the_local_profile_to_the_cent(
    trino_engine: TrinoEngine, local_gold: dict[str, list[dict[str, Any]]]
) -> None:
    for table in GOLD:
        assert figures(trino_engine.query(f"SELECT * FROM gold.{table}")) == local_gold[table], table


@pytest.mark.usefixtures("stack_medallion")
def test_trino_reads_the_bronze_tables_pyiceberg_wrote(trino_engine: TrinoEngine, stack_environment: Settings) -> None:
    bronze = catalog_for(stack_environment).load_table(("bronze", "order_details"))
    assert bronze.location().startswith("s3://warehouse/")
    written = bronze.scan(selected_fields=("order_id", "quantity")).to_arrow()
    through_trino = trino_engine.query("SELECT count(*) AS lines, sum(quantity) AS units FROM bronze.order_details")
    units = pa.compute.sum(written["quantity"]).as_py()
    assert through_trino.to_pylist() == [{"lines": written.num_rows, "units": units}]


@pytest.mark.usefixtures("stack_medallion")
def test_pyiceberg_reads_the_gold_tables_trino_created(trino_engine: TrinoEngine, stack_environment: Settings) -> None:
    catalog = catalog_for(stack_environment)
    for table in GOLD:
        through_pyiceberg = catalog.load_table(("gold", table)).scan().to_arrow()
        assert sorted_rows(through_pyiceberg) == sorted_rows(trino_engine.query(f"SELECT * FROM gold.{table}")), table
    with catalog.engine.connect() as connection:
        kinds = dict(connection.execute(sa.text("SELECT table_namespace, iceberg_type FROM iceberg_tables")).all())
    # One catalog schema (JDBC catalog V1) on both sides: each marks what it creates as a table.
    assert kinds == {"bronze": "TABLE", "silver": "TABLE", "gold": "TABLE"}


@pytest.mark.usefixtures("stack_medallion")
def test_lakehouse_query_answers_through_trino(stack_environment: Settings, trino_engine: TrinoEngine) -> None:
    sql = "SELECT country, revenue FROM gold.revenue_by_country WHERE revenue_rank <= 3 ORDER BY revenue_rank"
    environment = {**os.environ, **stack_environment.environment()}
    completed = subprocess.run(
        [LAKEHOUSE_CLI, "query", sql, "--format", "json"], env=environment, capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr
    expected = [{**row, "revenue": str(row["revenue"])} for row in trino_engine.query(sql).to_pylist()]
    assert json.loads(completed.stdout) == expected
    assert len(expected) == 3


@pytest.mark.usefixtures("stack_medallion")
def test_every_notebook_runs_on_trino_and_shows_the_cli_figure(stack_environment: Settings) -> None:
    assert_each_notebook_shows_the_cli_figure(stack_environment.environment())


# After the tests that compare the classic build: this one delivers more data.
def test_incremental_gold_equals_a_full_rebuild_through_trino(
    stack_medallion: StackMedallion, stack_environment: Settings
) -> None:
    _, instance = stack_medallion
    source_as_admin = as_admin(stack_environment, stack_environment.source_url)
    check_incremental_equals_full(
        stack_environment,
        catalog_for(stack_environment),
        lambda: TrinoEngine(stack_environment),
        lambda tags: materialize_medallion(stack_environment, instance, tags),
        # Captured from the source's log: the updated and removed lines reach gold through Trino.
        lambda: change_source(source_as_admin, *CHANGES),
    )


def test_a_query_through_trino_reads_each_table_as_of_a_snapshot(
    stack_environment: Settings, trino_engine: TrinoEngine
) -> None:
    # After the incremental test: gold.daily_revenue has had days added since its first snapshot.
    table = catalog_for(stack_environment).load_table(("gold", "daily_revenue"))
    first = min(table.metadata.snapshots, key=lambda snapshot: snapshot.timestamp_ms)
    then = table.scan(snapshot_id=first.snapshot_id).to_arrow().num_rows
    as_of = TrinoEngine(stack_environment, as_of=str(first.snapshot_id))
    try:
        assert as_of.scalar("SELECT count(*) FROM gold.daily_revenue AS days") == then
    finally:
        as_of.close()
    assert trino_engine.scalar("SELECT count(*) FROM gold.daily_revenue") != then


@pytest.mark.usefixtures("running_stack")
def test_services_up_and_down_run_the_stack_and_stop_it_by_pid(services_dir: Path) -> None:
    """`make services-up` / `make services-down` on ports of their own, beside the session's stack."""
    settings = stack_settings(services_dir / "services-up-home")
    home = settings.home
    environment = {**os.environ, **settings.environment()}
    up = subprocess.run([LAKEHOUSE_CLI, "services", "up"], env=environment, capture_output=True, text=True)
    processes = recorded_processes(home / "services")
    try:
        assert up.returncode == 0, up.stderr
        assert {process.name for process in processes} == {"postgres", "minio", "kafka", "trino"}
        assert all(process.alive() for process in processes)
        engine = TrinoEngine(settings)
        assert engine.query("SHOW SCHEMAS").column(0).to_pylist() == [
            "bronze",
            "gold",
            "information_schema",
            "silver",
            "system",
        ]
        engine.close()
        again = subprocess.run([LAKEHOUSE_CLI, "services", "up"], env=environment, capture_output=True, text=True)
        assert again.returncode == 1
        assert "already running" in again.stderr
    finally:
        down = subprocess.run([LAKEHOUSE_CLI, "services", "down"], env=environment, capture_output=True, text=True)
    assert down.returncode == 0, down.stderr
    assert not any(process.alive() for process in processes)


def test_services_install_names_where_each_server_is_installed() -> None:
    completed = subprocess.run([LAKEHOUSE_CLI, "services", "install"], capture_output=True, text=True)
    if completed.returncode != 0:
        unavailable(completed.stderr.strip())
    installed = dict(line.split(maxsplit=1) for line in completed.stdout.splitlines() if line.startswith("  "))
    assert set(installed) == {"postgres", "minio", "kafka", "trino", "prometheus"}
    assert all(Path(path).exists() for path in installed.values()), installed
