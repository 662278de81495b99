"""The embedded SQL engine: DuckDB over the catalog's Iceberg tables, named `bronze.x`, `silver.x`, `gold.x`.

Each table becomes a view over the Parquet data files of its current snapshot, read by column
name (``union_by_name``), so columns added by schema evolution read as null in older files.
A table whose snapshot carries delete files is read through pyiceberg instead, which applies
them. Views pin the snapshot current when the engine was opened.
"""

from collections.abc import Iterable

import duckdb
import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from lakehouse.iceberg.catalog import NAMESPACES

LOCAL_SCHEME = "file://"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class QueryError(Exception):
    """A query could not run; the message carries the engine's explanation."""


class LocalEngine:
    """An in-memory DuckDB connection with a view per Iceberg table."""

    def __init__(self, catalog: Catalog, tables: Iterable[tuple[str, str]] | None = None) -> None:
        self.connection = duckdb.connect()
        identifiers = list(tables) if tables is not None else self._all_tables(catalog)
        for namespace in {namespace for namespace, _ in identifiers} | set(NAMESPACES):
            self.connection.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(namespace)}")
        for namespace, name in identifiers:
            self._attach(catalog.load_table((namespace, name)), namespace, name)

    @staticmethod
    def _all_tables(catalog: Catalog) -> list[tuple[str, str]]:
        found = []
        for namespace in NAMESPACES:
            for identifier in catalog.list_tables(namespace):
                found.append((identifier[0], identifier[-1]))
        return found

    def _attach(self, table: Table, namespace: str, name: str) -> None:
        view = f"{_quote(namespace)}.{_quote(name)}"
        tasks = list(table.scan().plan_files())
        local = all(task.file.file_path.startswith(LOCAL_SCHEME) for task in tasks)
        if tasks and local and not any(task.delete_files for task in tasks):
            files = ", ".join(_literal(task.file.file_path.removeprefix(LOCAL_SCHEME)) for task in tasks)
            self.connection.execute(
                f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM read_parquet([{files}], union_by_name = true)"
            )
            return
        rows = table.scan().to_arrow() if tasks else table.schema().as_arrow().empty_table()
        relation_name = f"__{namespace}_{name}"
        self.connection.register(relation_name, rows)
        self.connection.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {_quote(relation_name)}")

    def query(self, sql: str) -> pa.Table:
        try:
            relation = self.connection.sql(sql)
        except duckdb.Error as error:
            raise QueryError(str(error)) from error
        # Statements that return no rows (DDL, SET) give no relation.
        return relation.to_arrow_table() if relation is not None else pa.table({})

    def scalar(self, sql: str) -> object:
        return self.query(sql).column(0)[0].as_py()

    def close(self) -> None:
        self.connection.close()
