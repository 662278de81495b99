"""Extraction from a real PostgreSQL Northwind, unchanged from the SQLite path."""

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest
import sqlalchemy as sa
from pyiceberg.catalog.sql import SqlCatalog

from lakehouse.iceberg.catalog import catalog_for
from lakehouse.iceberg.declarations import SOURCE, LoadMode, bronze_declarations
from lakehouse.ingest.database.changes import replication_name
from lakehouse.ingest.database.extract import Extraction, extract_tables
from lakehouse.ingest.database.source import SourceDatabase, SourceError
from lakehouse.settings import Settings
from lakehouse_dev.generators.northwind.generator import parse_scale
from lakehouse_dev.generators.northwind.load import write_northwind
from lakehouse_dev.generators.northwind.schema import NORTHWIND_TABLES
from lakehouse_dev.services.postgres import PostgresServer

pytestmark = pytest.mark.stack

SCRATCH = "northwind_scratch"


def load_all(home: Path, source_url: str) -> SqlCatalog:
    """Every declared table, as a run loads them: orders and their lines captured from the log on PostgreSQL."""
    settings = Settings(home=home, source_url=source_url)
    catalog = catalog_for(settings)
    outcomes = extract_tables(
        catalog, SourceDatabase(source_url), bronze_declarations(), chunk_rows=10_000, concurrency=2
    )
    for declaration, outcome in outcomes:
        assert not isinstance(outcome, Exception), (declaration.table, outcome)
    return catalog


def bronze(catalog: SqlCatalog, table: str) -> pa.Table:
    """The table's source columns; bronze's own lineage and change columns differ by load."""
    declaration = next(d for d in bronze_declarations() if d.table == table)
    rows = catalog.load_table(("bronze", table)).scan(selected_fields=tuple(declaration.column_names)).to_arrow()
    return rows.sort_by([(column, "ascending") for column in declaration.key])


@pytest.fixture(scope="module")
def postgres_northwind(postgres: PostgresServer) -> Iterator[str]:
    """The scratch database, with the classic Northwind; its capture slot dropped after the module."""
    url = postgres.url(SCRATCH)
    write_northwind(url, parse_scale("classic"))
    yield url
    with psycopg.connect(postgres.url(SCRATCH, driver="postgresql"), autocommit=True) as connection:
        connection.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
            [replication_name(SourceDatabase(url))],
        )


def test_postgres_source_gives_the_same_bronze_as_sqlite(postgres_northwind: str, tmp_path: Path) -> None:
    sqlite_url = f"sqlite:///{tmp_path}/northwind.db"
    write_northwind(sqlite_url, parse_scale("classic"))
    from_postgres = load_all(tmp_path / "pg", postgres_northwind)
    from_sqlite = load_all(tmp_path / "sqlite", sqlite_url)
    for table in NORTHWIND_TABLES:
        expected = bronze(from_sqlite, table)
        actual = bronze(from_postgres, table)
        assert actual.num_rows == expected.num_rows > 0, table
        assert actual.equals(expected), table
    source = from_postgres.load_table(("bronze", "orders")).scan(selected_fields=(SOURCE,)).to_arrow()
    assert set(source[SOURCE].to_pylist()) == {f"postgresql:{SCRATCH}.orders"}


def test_postgres_keeps_the_public_northwind_types(postgres_northwind: str) -> None:
    inspector = sa.inspect(sa.create_engine(postgres_northwind))
    types = {c["name"]: str(c["type"]) for c in inspector.get_columns("order_details")}
    assert types == {
        "order_id": "SMALLINT",
        "product_id": "SMALLINT",
        "unit_price": "REAL",
        "quantity": "SMALLINT",
        "discount": "REAL",
    }
    customers = {c["name"]: str(c["type"]) for c in inspector.get_columns("customers")}
    assert customers["customer_id"] == "VARCHAR(5)"


def test_incremental_extraction_from_postgres(postgres_northwind: str, tmp_path: Path) -> None:
    url = postgres_northwind
    write_northwind(url, parse_scale("classic"))
    catalog = catalog_for(Settings(home=tmp_path, source_url=url))
    captured = next(d for d in bronze_declarations() if d.table == "orders")
    # The declaration as a source without a change log would load it.
    declaration = captured.model_copy(
        update={"source": captured.source.model_copy(update={"load": LoadMode.INCREMENTAL})}
    )
    Extraction(catalog, SourceDatabase(url), declaration).run()
    with sa.create_engine(url).begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO orders (order_id, customer_id, order_date) "
                "SELECT order_id + 1000, customer_id, order_date FROM orders WHERE order_id > 11070"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO order_details SELECT order_id + 1000, product_id, unit_price, quantity, discount "
                "FROM order_details WHERE order_id > 11070"
            )
        )
    result = Extraction(catalog, SourceDatabase(url), declaration).run()
    assert result.rows_written == 7
    assert result.details.cursor == "12077"
    assert Extraction(catalog, SourceDatabase(url), declaration).run().rows_written == 0


def test_missing_postgres_table_is_a_clear_error(postgres_northwind: str, tmp_path: Path) -> None:
    url = postgres_northwind
    settings = Settings(home=tmp_path, source_url=url)
    catalog = catalog_for(settings)
    with sa.create_engine(url).begin() as connection:
        connection.execute(sa.text("DROP TABLE IF EXISTS employees"))
    declaration = next(d for d in bronze_declarations() if d.table == "employees")
    with pytest.raises(
        SourceError, match=r"source table 'employees' not found in postgresql\+psycopg://lakehouse:\*\*\*@"
    ):
        Extraction(catalog, SourceDatabase(url), declaration).run()
