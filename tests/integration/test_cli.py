"""The `lakehouse` command line, end to end on a temporary LAKEHOUSE_HOME."""

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakehouse.cli import app
from lakehouse.iceberg.declarations import all_declarations

runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One classic-size bronze lakehouse, built once for the read-only tests of this module."""
    home = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAKEHOUSE_HOME", str(home / "lakehouse"))
        patch.setenv("DAGSTER_HOME", str(home / "dagster"))
        invoke("generate", "--scale", "classic")
        invoke("init")
        invoke("materialize")
    return home


@pytest.fixture
def demo_lakehouse(demo_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_HOME", str(demo_home / "lakehouse"))
    monkeypatch.setenv("DAGSTER_HOME", str(demo_home / "dagster"))


def test_generate_reports_the_rows_written() -> None:
    output = invoke("generate", "--scale", "classic", "--seed", "3")
    assert "orders 830, order_details 2,155" in output
    assert "left as it is" in invoke("generate", "--if-missing")


def test_init_creates_the_declared_tables_once() -> None:
    declared = {f"bronze.{d.table}" for d in all_declarations()}
    first = invoke("init")
    assert set(first.strip().split(": created ")[1].split(", ")) == declared
    assert invoke("init").endswith("up to date\n")
    listing = json.loads(invoke("tables", "--format", "json"))
    assert {entry["table"] for entry in listing} == declared


def test_materialize_then_tables_lists_rows_and_snapshots(demo_lakehouse: None) -> None:
    listing = json.loads(invoke("tables", "--format", "json"))
    rows = {entry["table"]: entry["rows"] for entry in listing}
    assert rows["bronze.orders"] == 830 and rows["bronze.order_details"] == 2155
    # Declared tables exist before anything is delivered to them; only those with rows have a snapshot.
    assert rows["bronze.marketplace_orders"] == 0 and rows["bronze.sales_events"] == 0
    assert all(entry["snapshot_id"] for entry in listing if entry["rows"])


def test_query_formats(demo_lakehouse: None) -> None:
    sql = "SELECT category_id, category_name FROM bronze.categories ORDER BY category_id LIMIT 2"
    assert json.loads(invoke("query", sql, "--format", "json")) == [
        {"category_id": 1, "category_name": "Beverages"},
        {"category_id": 2, "category_name": "Condiments"},
    ]
    assert list(csv.reader(io.StringIO(invoke("query", sql, "--format", "csv")))) == [
        ["category_id", "category_name"],
        ["1", "Beverages"],
        ["2", "Condiments"],
    ]
    table = invoke("query", sql).splitlines()
    assert table[0].split("|")[0].strip() == "category_id"
    assert table[-1] == "(2 rows)"


def test_query_joins_bronze_tables(demo_lakehouse: None) -> None:
    revenue = json.loads(
        invoke(
            "query",
            "SELECT round(sum(d.unit_price * d.quantity * (1 - d.discount)), 2) AS revenue, "
            "count(DISTINCT o.order_id) AS n FROM bronze.order_details d JOIN bronze.orders o USING (order_id)",
            "-f",
            "json",
        )
    )
    assert revenue[0]["n"] == 830
    assert revenue[0]["revenue"] > 100_000


def test_history_lists_each_snapshot_with_the_position_it_recorded(demo_lakehouse: None) -> None:
    [load] = json.loads(invoke("history", "bronze.orders", "--format", "json"))
    assert load["operation"] == "append" and load["current_lineage"] is True
    assert load["added_rows"] == load["total_rows"] == 830 and load["removed_rows"] == 0
    # The cursor a re-run resumes from: the highest order id extracted.
    assert "cursor=11077" in load["position"].split("; ")
    table = invoke("history", "bronze.orders")
    assert table.startswith("snapshot_id") and table.rstrip().endswith("(1 row)")


@pytest.mark.bad_input
@pytest.mark.parametrize(
    ("table", "message"), [("orders", "not a table name"), ("bronze.nope", "no table bronze.nope in the catalog")]
)
def test_history_of_an_unknown_table_says_so(demo_lakehouse: None, table: str, message: str) -> None:
    result = runner.invoke(app, ["history", table])
    assert result.exit_code == 2 and message in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.bad_input
def test_query_errors_are_reported_without_a_traceback(demo_lakehouse: None) -> None:
    result = runner.invoke(app, ["query", "SELECT * FROM bronze.nope"])
    assert result.exit_code == 1
    assert "query failed" in result.stderr and "nope" in result.stderr
    assert "Traceback" not in result.output


@pytest.fixture
def own_bronze(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A classic-size bronze lakehouse of the test's own, for tests that change it; its source database."""
    monkeypatch.setenv("LAKEHOUSE_HOME", str(tmp_path / "lakehouse"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    invoke("generate", "--scale", "classic")
    invoke("init")
    invoke("materialize")
    return tmp_path / "lakehouse" / "northwind.db"


def add_order(source: Path, order_id: int, order_date: str) -> None:
    with sqlite3.connect(source) as connection:
        connection.execute(
            "INSERT INTO orders (order_id, customer_id, order_date) VALUES (?, 'ALFKI', ?)", (order_id, order_date)
        )


@pytest.mark.bad_input
def test_backfill_loads_rows_below_the_cursor_once(own_bronze: Path) -> None:
    add_order(own_bronze, 10001, "1996-07-01")

    first = invoke("backfill", "orders")
    again = invoke("backfill", "orders", "--from", "10000", "--to", "10100")
    refused = runner.invoke(app, ["backfill", "customers"])

    assert first.startswith("bronze.orders: +1 row(s); `lakehouse materialize --job medallion` takes them to gold")
    assert again.startswith("bronze.orders: +0 row(s) (bronze has every source row with order_id in 10000..10100)")
    assert refused.exit_code == 2
    assert "bronze.customers is loaded whole on every run" in refused.stderr


def test_a_query_as_of_a_snapshot_and_a_rollback_to_it_after_which_the_next_load_resumes_from_its_position(
    own_bronze: Path,
) -> None:
    add_order(own_bronze, 20001, "1998-06-01")
    invoke("materialize")
    first, second = json.loads(invoke("history", "bronze.orders", "--format", "json"))
    assert second["total_rows"] == 831
    count = "SELECT count(*) AS n FROM bronze.orders"
    assert invoke("query", count, "--format", "csv", "--as-of", first["snapshot_id"]) == "n\n830\n"
    assert invoke("query", count, "--format", "csv", "--as-of", second["committed_at"]) == "n\n831\n"
    too_early = runner.invoke(app, ["query", count, "--as-of", "1999-01-01T00:00:00Z"])
    assert too_early.exit_code == 1 and "no snapshot committed at or before 1999-01-01" in too_early.stderr

    declined = runner.invoke(app, ["rollback", "bronze.orders", first["snapshot_id"]], input="n\n")
    assert declined.exit_code == 1 and "nothing changed" in declined.stderr
    assert json.loads(invoke("history", "bronze.orders", "--format", "json"))[-1]["current_lineage"] is True

    assert "is at snapshot" in invoke("rollback", "bronze.orders", first["snapshot_id"], "--yes")
    after = json.loads(invoke("history", "bronze.orders", "--format", "json"))
    assert [entry["current_lineage"] for entry in after] == [True, False]
    assert invoke("query", "SELECT count(*) AS n FROM bronze.orders", "--format", "csv") == "n\n830\n"

    # The first snapshot's cursor is where the next load starts: the new order comes back once.
    invoke("materialize")
    assert invoke("query", "SELECT count(*) AS n FROM bronze.orders", "--format", "csv") == "n\n831\n"


@pytest.mark.bad_input
def test_rollback_to_a_snapshot_the_table_lacks_says_so(demo_lakehouse: None) -> None:
    result = runner.invoke(app, ["rollback", "bronze.orders", "12345", "--yes"])
    assert result.exit_code == 2 and "bronze.orders has no snapshot 12345" in result.stderr
