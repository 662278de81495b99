"""Extraction from a generated Northwind into bronze Iceberg tables, on the embedded profile."""

import json

import pyarrow.compute as pc
import pytest
import sqlalchemy as sa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table

from lakehouse.defs.database.checks import NO_QUARANTINED_ROWS, RECONCILES_WITH_SOURCE, check_bronze_table
from lakehouse.iceberg.catalog import bronze_table
from lakehouse.iceberg.commits import recorded, summary_key
from lakehouse.iceberg.declarations import TableDeclaration, bronze_declarations
from lakehouse.ingest.database.extract import CURSOR, FINGERPRINT, BackfillError, Extraction
from lakehouse.ingest.database.source import SourceDatabase, SourceError
from lakehouse_dev.generators.northwind.schema import northwind_metadata


def declaration(table: str) -> TableDeclaration:
    return next(d for d in bronze_declarations() if d.table == table)


def extract(catalog: SqlCatalog, source: SourceDatabase, table: str, chunk_rows: int = 500) -> Extraction:
    return Extraction(catalog, source, declaration(table), chunk_rows=chunk_rows)


def bronze_rows(catalog: SqlCatalog, table: str) -> int:
    return catalog.load_table(("bronze", table)).scan().to_arrow().num_rows


def add_orders(source: SourceDatabase, count: int) -> list[int]:
    """Append orders with one line each, the way an OLTP system would."""
    with source.engine.begin() as connection:
        top = connection.execute(sa.text("SELECT max(order_id) FROM orders")).scalar_one()
        new_ids = list(range(top + 1, top + 1 + count))
        for order_id in new_ids:
            connection.execute(
                sa.text("INSERT INTO orders (order_id, customer_id, order_date) VALUES (:id, 'ALFKI', '1998-05-07')"),
                {"id": order_id},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO order_details (order_id, product_id, unit_price, quantity, discount) "
                    "VALUES (:id, 1, 18.0, 3, 0)"
                ),
                {"id": order_id},
            )
    return new_ids


def test_full_extraction_copies_every_row_with_lineage(catalog: SqlCatalog, classic_source: SourceDatabase) -> None:
    results = {d.table: Extraction(catalog, classic_source, d).run() for d in bronze_declarations()}
    assert {t: r.rows_written for t, r in results.items()} == {
        "categories": 8, "customers": 91, "employees": 9, "products": 77, "orders": 830, "order_details": 2155,
    }  # fmt: skip
    orders = catalog.load_table(("bronze", "orders")).scan().to_arrow()
    assert orders.column_names[-6:-4] == ["_ingested_at", "_source"]
    assert pc.all(pc.equal(orders["_source"], "sqlite:northwind.orders")).as_py()
    # Extracted from SQLite: no change log made these rows.
    assert orders["_operation"].null_count == orders["_commit_lsn"].null_count == orders.num_rows
    assert orders["_ingested_at"].null_count == 0
    assert results["orders"].details.cursor == str(10248 + 829)
    assert results["orders"].snapshot_id is not None


def test_source_values_arrive_unchanged(catalog: SqlCatalog, classic_source: SourceDatabase) -> None:
    extract(catalog, classic_source, "orders").run()
    bronze = catalog.load_table(("bronze", "orders")).scan().to_arrow().sort_by("order_id")
    orders = northwind_metadata().tables["orders"]
    with classic_source.engine.connect() as connection:
        first = connection.execute(sa.select(orders).order_by(orders.c.order_id).limit(1)).mappings().one()
    row = bronze.slice(0, 1).to_pylist()[0]
    for column, value in first.items():
        expected = pytest.approx(value, rel=1e-6) if isinstance(value, float) else value
        assert row[column] == expected, column


def test_incremental_rerun_without_new_rows_writes_nothing(catalog: SqlCatalog, classic_source: SourceDatabase) -> None:
    first = extract(catalog, classic_source, "order_details").run()
    snapshot = catalog.load_table(("bronze", "order_details")).current_snapshot()
    second = extract(catalog, classic_source, "order_details").run()
    assert first.rows_written == 2155
    assert second.rows_written == 0 and second.skipped_reason == "no new source rows"
    assert catalog.load_table(("bronze", "order_details")).current_snapshot() == snapshot
    assert bronze_rows(catalog, "order_details") == 2155


def test_incremental_load_takes_only_new_rows_and_records_the_cursor(
    catalog: SqlCatalog, classic_source: SourceDatabase
) -> None:
    extract(catalog, classic_source, "orders").run()
    new_ids = add_orders(classic_source, 5)
    result = extract(catalog, classic_source, "orders").run()
    assert result.rows_written == 5
    assert result.total_rows == 835
    table = catalog.load_table(("bronze", "orders"))
    assert recorded(table, CURSOR) == str(new_ids[-1])
    summary = table.current_snapshot().summary
    assert summary[summary_key("cursor-column")] == "order_id"
    ids = table.scan().to_arrow()["order_id"]
    assert len(pc.unique(ids)) == len(ids) == 835


def test_whole_table_reload_only_when_the_source_changed(catalog: SqlCatalog, classic_source: SourceDatabase) -> None:
    first = extract(catalog, classic_source, "customers").run()
    unchanged = extract(catalog, classic_source, "customers").run()
    with classic_source.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE customers SET city = 'Oslo' WHERE customer_id = (SELECT min(customer_id) FROM customers)")
        )
    changed = extract(catalog, classic_source, "customers").run()
    assert (first.rows_written, unchanged.rows_written, changed.rows_written) == (91, 0, 91)
    assert unchanged.skipped_reason == "source unchanged since the last load"
    table = catalog.load_table(("bronze", "customers"))
    assert recorded(table, FINGERPRINT) is not None
    rows = table.scan().to_arrow()
    assert rows.num_rows == 91
    assert "Oslo" in rows["city"].to_pylist()


def test_a_new_source_column_is_added_and_old_rows_read_null(
    catalog: SqlCatalog, classic_source: SourceDatabase
) -> None:
    extract(catalog, classic_source, "orders").run()
    with classic_source.engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE orders ADD COLUMN sales_channel VARCHAR(10)"))
    add_orders(classic_source, 2)
    with classic_source.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE orders SET sales_channel = 'web' WHERE sales_channel IS NULL AND order_id > 11077")
        )
    result = extract(catalog, classic_source, "orders").run()
    assert result.details.added_columns == ["sales_channel"]
    rows = catalog.load_table(("bronze", "orders")).scan().to_arrow()
    assert "sales_channel" in rows.column_names
    channel = dict(zip(rows["order_id"].to_pylist(), rows["sales_channel"].to_pylist(), strict=True))
    assert channel[10248] is None
    assert channel[11078] == channel[11079] == "web"


@pytest.mark.bad_input
def test_missing_source_table_is_a_clear_error(catalog: SqlCatalog, classic_source: SourceDatabase) -> None:
    with classic_source.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE products"))
    with pytest.raises(SourceError, match=r"source table 'products' not found in sqlite:///.*northwind\.db"):
        extract(catalog, classic_source, "products").run()


@pytest.mark.bad_input
def test_missing_source_column_names_the_column_and_the_declaration(
    catalog: SqlCatalog, classic_source: SourceDatabase
) -> None:
    with classic_source.engine.begin() as connection:
        connection.execute(sa.text("ALTER TABLE orders DROP COLUMN freight"))
    with pytest.raises(SourceError) as raised:
        extract(catalog, classic_source, "orders").run()
    assert "lacks column(s) freight" in str(raised.value)
    assert "iceberg/orders.yaml" in str(raised.value)


@pytest.mark.bad_input
def test_a_row_that_does_not_fit_is_quarantined_with_its_key_and_the_rest_loads(
    catalog: SqlCatalog, classic_source: SourceDatabase
) -> None:
    extract(catalog, classic_source, "order_details").run()
    new_ids = add_orders(classic_source, 3)
    with classic_source.engine.begin() as connection:
        # SQLite stores what it is given, so a text in the smallint column gets through.
        connection.execute(
            sa.text("UPDATE order_details SET quantity = 'lots' WHERE order_id = :id"), {"id": new_ids[1]}
        )

    result = extract(catalog, classic_source, "order_details", chunk_rows=1).run()
    again = extract(catalog, classic_source, "order_details").run()
    checks = {o.name: o for o in check_bronze_table(catalog, classic_source, declaration("order_details"))}

    assert result.rows_written == 2 and result.rows_quarantined == 1
    assert result.quarantine == "bronze.order_details_quarantine"
    [kept] = catalog.load_table(("bronze", "order_details_quarantine")).scan().to_arrow().to_pylist()
    assert json.loads(kept["_key"]) == {"order_id": str(new_ids[1]), "product_id": "1"}
    assert kept["_reason"].startswith("quantity: 'lots' does not fit")
    assert json.loads(kept["_row"])["quantity"] == "lots"
    assert again.rows_written == 0 and bronze_rows(catalog, "order_details") == 2157
    assert checks[RECONCILES_WITH_SOURCE].passed and not checks[NO_QUARANTINED_ROWS].passed

    # Fixed in the source, the row is below the cursor: a backfill loads it, and only it.
    with classic_source.engine.begin() as connection:
        connection.execute(sa.text("UPDATE order_details SET quantity = 2 WHERE order_id = :id"), {"id": new_ids[1]})
    assert extract(catalog, classic_source, "order_details").backfill().rows_written == 1
    assert bronze_rows(catalog, "order_details") == 2158


@pytest.mark.bad_input
def test_a_conflicting_commit_is_retried_from_the_new_position(
    catalog: SqlCatalog, classic_source: SourceDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two loads of the same table interleave; the loser retries and must not duplicate rows."""
    extract(catalog, classic_source, "orders").run()
    add_orders(classic_source, 4)
    stale = catalog.load_table(("bronze", "orders"))
    assert extract(catalog, classic_source, "orders").run().rows_written == 4
    opened: list[TableDeclaration] = []

    def stale_first(catalog: SqlCatalog, declaration: TableDeclaration) -> Table:
        opened.append(declaration)
        return stale if len(opened) == 1 else bronze_table(catalog, declaration)

    # The second load starts from the table as it was before the first committed: its commit
    # conflicts, and the retry re-reads the position and finds nothing left to load.
    monkeypatch.setattr("lakehouse.ingest.database.extract.bronze_table", stale_first)
    result = extract(catalog, classic_source, "orders").run()
    assert len(opened) == 2
    assert result.rows_written == 0
    ids = catalog.load_table(("bronze", "orders")).scan().to_arrow()["order_id"]
    assert len(ids) == len(pc.unique(ids)) == 834


def insert_orders_below_the_cursor(source: SourceDatabase, order_ids: list[int]) -> None:
    with source.engine.begin() as connection:
        for order_id in order_ids:
            connection.execute(
                sa.text("INSERT INTO orders (order_id, customer_id, order_date) VALUES (:id, 'ALFKI', '1996-07-01')"),
                {"id": order_id},
            )


@pytest.mark.bad_input
def test_rows_that_arrive_below_the_cursor_are_named_by_the_check_and_backfilled_once(
    catalog: SqlCatalog, classic_source: SourceDatabase
) -> None:
    orders = declaration("orders")
    extract(catalog, classic_source, "orders").run()
    insert_orders_below_the_cursor(classic_source, [10001, 10002, 10003, 10100])

    increment = extract(catalog, classic_source, "orders").run()
    reconcile = next(o for o in check_bronze_table(catalog, classic_source, orders) if o.name == RECONCILES_WITH_SOURCE)
    first = extract(catalog, classic_source, "orders").backfill()
    again = extract(catalog, classic_source, "orders").backfill()
    after = next(o for o in check_bronze_table(catalog, classic_source, orders) if o.name == RECONCILES_WITH_SOURCE)

    assert increment.rows_written == 0
    assert not reconcile.passed
    assert reconcile.metadata == {
        "bronze_rows": 830,
        "quarantined_rows": 0,
        "source_rows": 834,
        "missing_ranges": "10001-10100",
    }
    assert "lakehouse backfill orders" in reconcile.description
    assert first.rows_written == 4 and again.rows_written == 0
    assert after.passed and bronze_rows(catalog, "orders") == 834
    table = catalog.load_table(("bronze", "orders"))
    assert recorded(table, CURSOR) == "11077"
    ids = table.scan().to_arrow()["order_id"]
    assert len(ids) == len(pc.unique(ids))


@pytest.mark.bad_input
def test_a_backfill_is_bounded_to_its_range_and_refused_for_whole_tables(
    catalog: SqlCatalog, classic_source: SourceDatabase
) -> None:
    extract(catalog, classic_source, "orders").run()
    insert_orders_below_the_cursor(classic_source, [10001, 10002, 10100])

    bounded = extract(catalog, classic_source, "orders").backfill(10002, 10200)

    assert bounded.rows_written == 2
    with pytest.raises(BackfillError, match=r"bronze\.customers is loaded whole on every run"):
        extract(catalog, classic_source, "customers").backfill()
