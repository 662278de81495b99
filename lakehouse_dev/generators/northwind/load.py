"""Write a generated Northwind into any database SQLAlchemy can reach.

Tables are created with SQLAlchemy, so every dialect gets the Northwind types. Rows go through
ADBC bulk ingestion (COPY on PostgreSQL) where a driver exists, and plain batched inserts
elsewhere.
"""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa

from lakehouse.ingest.database.source import adbc_connect, has_adbc_driver
from lakehouse_dev.generators.northwind import generator
from lakehouse_dev.generators.northwind.generator import NorthwindSize
from lakehouse_dev.generators.northwind.schema import NORTHWIND_TABLES, northwind_metadata

SMALLINT_MAX = 32_767
INSERT_BATCH_ROWS = 10_000

WriteRows = Callable[[sa.Table, pa.Table], None]


@dataclass
class GenerationSummary:
    url: str
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _arrow_type(column: sa.Column) -> pa.DataType:  # type: ignore[type-arg]
    column_type = column.type
    mapping: list[tuple[type[sa.types.TypeEngine], pa.DataType]] = [  # type: ignore[type-arg]
        (sa.SmallInteger, pa.int16()),
        (sa.Integer, pa.int32()),
        (sa.REAL, pa.float32()),
        (sa.Date, pa.date32()),
        (sa.LargeBinary, pa.binary()),
        (sa.String, pa.string()),
    ]
    for sql_type, arrow_type in mapping:
        if isinstance(column_type, sql_type):
            return arrow_type
    raise TypeError(f"no Arrow type for column {column.name} of type {column_type}")


def _conform(table: sa.Table, rows: pa.Table) -> pa.Table:
    """Cast generated rows to the exact column types, which binary COPY requires."""
    schema = pa.schema([pa.field(c.name, _arrow_type(c), nullable=c.nullable) for c in table.columns])
    return rows.select(schema.names).cast(schema)


@contextmanager
def _bulk_writer(engine: sa.Engine) -> Iterator[WriteRows]:
    url = engine.url
    if has_adbc_driver(url):
        with adbc_connect(url) as connection:
            cursor = connection.cursor()

            def ingest(table: sa.Table, rows: pa.Table) -> None:
                cursor.adbc_ingest(table.name, _conform(table, rows), mode="append")

            yield ingest
            connection.commit()
        return

    with engine.begin() as transaction:

        def insert(table: sa.Table, rows: pa.Table) -> None:
            for batch in _conform(table, rows).to_batches(INSERT_BATCH_ROWS):
                transaction.execute(table.insert(), batch.to_pylist())

        yield insert


def present_northwind_tables(url: str) -> set[str]:
    """The Northwind tables ``url`` already holds."""
    engine = sa.create_engine(url)
    try:
        return set(NORTHWIND_TABLES) & set(sa.inspect(engine).get_table_names())
    except sa.exc.OperationalError:
        return set()
    finally:
        engine.dispose()


def northwind_exists(url: str) -> bool:
    """Whether ``url`` already holds all six Northwind tables."""
    return present_northwind_tables(url) == set(NORTHWIND_TABLES)


def write_northwind(url: str, size: NorthwindSize, seed: int = 42) -> GenerationSummary:
    """Replace the six Northwind tables at ``url`` with a generated dataset."""
    started = time.perf_counter()
    engine = sa.create_engine(url)
    if engine.url.get_backend_name() == "sqlite" and engine.url.database:
        Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)
    metadata = northwind_metadata(wide_ids=size.last_order_id > SMALLINT_MAX)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    summary = GenerationSummary(url=engine.url.render_as_string(hide_password=True))
    tables = metadata.tables

    customer_rows = generator.customers(size, seed)
    product_rows = generator.products(seed)
    with _bulk_writer(engine) as write:

        def emit(name: str, rows: pa.Table) -> None:
            write(tables[name], rows)
            summary.rows[name] = summary.rows.get(name, 0) + rows.num_rows

        emit("categories", generator.categories())
        emit("employees", generator.employees())
        emit("products", product_rows)
        emit("customers", customer_rows.table)
        for chunk in generator.order_chunks(size, seed, customer_rows, product_rows):
            emit("orders", chunk.orders)
            emit("order_details", chunk.order_details)
    engine.dispose()
    summary.seconds = time.perf_counter() - started
    return summary
