"""The SQL engines, both naming tables `bronze.x`, `silver.x`, `gold.x`.

On `local`, DuckDB over the catalog's Iceberg tables; on `stack`, Trino's `iceberg` catalog.

Each table becomes a view over the Parquet data files of its current snapshot, read by column
name (``union_by_name``), so columns added by schema evolution read as null in older files.
A table whose snapshot carries delete files is read through pyiceberg instead, which applies
them. Relations pin the snapshot current when they were attached.
"""

import re
from collections.abc import Iterable
from typing import Any, Protocol

import duckdb
import pyarrow as pa
import trino
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from lakehouse.iceberg.catalog import NAMESPACES, catalog_for, catalog_tables
from lakehouse.settings import Profile, Settings

LOCAL_SCHEME = "file://"
STAGED_ROWS = "__lakehouse_staged_rows"


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class QueryError(Exception):
    """A query could not run; the message carries the engine's explanation."""


def _drop_relation(connection: duckdb.DuckDBPyConnection, namespace: str, name: str) -> None:
    kinds = connection.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [namespace, name],
    ).fetchall()
    for (kind,) in kinds:
        keyword = "VIEW" if kind == "VIEW" else "TABLE"
        connection.execute(f"DROP {keyword} {quote(namespace)}.{quote(name)}")


def attach_table(connection: duckdb.DuckDBPyConnection, table: Table, namespace: str, name: str) -> None:
    """Make ``namespace.name`` in DuckDB read the table's current snapshot, replacing what was there."""
    connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(namespace)}")
    _drop_relation(connection, namespace, name)
    relation = f"{quote(namespace)}.{quote(name)}"
    tasks = list(table.scan().plan_files())
    local = all(task.file.file_path.startswith(LOCAL_SCHEME) for task in tasks)
    if tasks and local and not any(task.delete_files for task in tasks):
        files = ", ".join(literal(task.file.file_path.removeprefix(LOCAL_SCHEME)) for task in tasks)
        connection.execute(f"CREATE VIEW {relation} AS SELECT * FROM read_parquet([{files}], union_by_name = true)")
        return
    # Empty tables, and snapshots with delete files, go through pyiceberg, which applies deletes.
    rows = table.scan().to_arrow() if tasks else table.schema().as_arrow().empty_table()
    connection.register(STAGED_ROWS, rows)
    try:
        connection.execute(f"CREATE TABLE {relation} AS SELECT * FROM {STAGED_ROWS}")
    finally:
        connection.unregister(STAGED_ROWS)


def attach_catalog(
    connection: duckdb.DuckDBPyConnection, catalog: Catalog, tables: Iterable[tuple[str, str]] | None = None
) -> None:
    """Attach ``tables`` (by default every table in the catalog) and create the medallion schemas."""
    for namespace in NAMESPACES:
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(namespace)}")
    for namespace, name in catalog_tables(catalog) if tables is None else tables:
        attach_table(connection, catalog.load_table((namespace, name)), namespace, name)


class LocalEngine:
    """An in-memory DuckDB connection with a relation per Iceberg table."""

    def __init__(self, catalog: Catalog, tables: Iterable[tuple[str, str]] | None = None) -> None:
        self.connection = duckdb.connect()
        attach_catalog(self.connection, catalog, tables)

    def query(self, sql: str) -> pa.Table:
        try:
            relation = self.connection.sql(sql)
        except duckdb.Error as error:
            raise QueryError(str(error)) from error
        # Statements that return no rows (DDL, SET) give no relation.
        return relation.to_arrow_table() if relation is not None else pa.table({})

    def scalar(self, sql: str) -> Any:
        """The first value of the first column, whatever its SQL type."""
        return self.query(sql).column(0)[0].as_py()

    def close(self) -> None:
        self.connection.close()


TRINO_CATALOG = "iceberg"
TRINO_TYPES: dict[str, pa.DataType] = {
    "boolean": pa.bool_(),
    "tinyint": pa.int8(),
    "smallint": pa.int16(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "real": pa.float32(),
    "double": pa.float64(),
    "varchar": pa.string(),
    "char": pa.string(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    "varbinary": pa.binary(),
}


def _arrow_type(trino_type: str) -> pa.DataType | None:
    """The Arrow type for a Trino column type; None lets Arrow infer it from the values."""
    if decimal := re.fullmatch(r"decimal\((\d+),\s*(\d+)\)", trino_type):
        return pa.decimal128(int(decimal[1]), int(decimal[2]))
    return TRINO_TYPES.get(re.sub(r"\(\d+(,\s*\d+)?\)", "", trino_type))


class TrinoEngine:
    """Queries through Trino, whose `iceberg` catalog is the lakehouse's shared catalog."""

    def __init__(self, settings: Settings) -> None:
        self.address = f"{settings.trino_host}:{settings.trino_port}"
        self.connection = trino.dbapi.connect(
            host=settings.trino_host, port=settings.trino_port, user=settings.trino_user, catalog=TRINO_CATALOG
        )

    def query(self, sql: str) -> pa.Table:
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql)
            rows = cursor.fetchall()
        except trino.exceptions.TrinoQueryError as error:
            raise QueryError(error.message) from error
        except (trino.exceptions.TrinoConnectionError, OSError) as error:
            raise QueryError(
                f"Trino at {self.address} is not reachable ({error}); start it with `make services-up`"
            ) from None
        description = cursor.description or []
        columns = {
            column[0]: pa.array([row[i] for row in rows], type=_arrow_type(str(column[1])))
            for i, column in enumerate(description)
        }
        return pa.table(columns)

    def scalar(self, sql: str) -> Any:
        return self.query(sql).column(0)[0].as_py()

    def close(self) -> None:
        self.connection.close()


class QueryEngine(Protocol):
    def query(self, sql: str) -> pa.Table: ...

    def scalar(self, sql: str) -> Any: ...

    def close(self) -> None: ...


def engine_for(settings: Settings) -> QueryEngine:
    """The profile's engine: Trino on `stack`, DuckDB over the catalog on `local`."""
    if settings.profile is Profile.STACK:
        return TrinoEngine(settings)
    return LocalEngine(catalog_for(settings))
