"""The SQL engines, both naming tables `bronze.x`, `silver.x`, `gold.x`.

On `local`, DuckDB over the catalog's Iceberg tables; on `stack`, Trino's `iceberg` catalog.

Each table becomes a view over the Parquet data files of its current snapshot, read by column
name (``union_by_name``), so columns added by schema evolution read as null in older files.
A table whose snapshot carries delete files is read through pyiceberg instead, which applies
them. Relations pin the snapshot current when they were attached.

DuckDB, Trino's client, pyarrow and pyiceberg are imported where they are used, for a
`lakehouse query` to start fast: on `stack` it loads neither DuckDB nor pyiceberg; on `local`
pyiceberg only for a table whose current files are not in the `SnapshotFiles` cache yet, and
pyarrow (a fifth of a second, with numpy) only for a result with a type that DuckDB converts to
Python values otherwise than Arrow does (`Records`).
"""

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from lakehouse.iceberg import NAMESPACES
from lakehouse.iceberg.snapshot_files import SnapshotFiles
from lakehouse.settings import Profile, Settings

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

LOCAL_SCHEME = "file://"
STAGED_ROWS = "__lakehouse_staged_rows"


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class QueryError(Exception):
    """A query could not run; the message carries the engine's explanation."""


class MissingTableError(QueryError):
    """A query names a table the catalog does not hold."""


class DamagedTableError(QueryError):
    """A table's data file cannot be read: the message names the table, the file and what to do."""

    def __init__(self, table: str, path: str | None, detail: str) -> None:
        if path is None:
            problem = f"its files cannot be read ({detail})"
        elif Path(path).exists():
            problem = f"its data file {path} is unreadable ({detail.splitlines()[0]})"
        else:
            problem = f"its data file {path} is missing from the warehouse"
        # Positions (cursors, files taken, offsets) live in the commits, so a rolled-back table is
        # brought up to date by the next run; --rebuild builds a model from scratch.
        rebuild = (
            "rebuild it with `lakehouse materialize --job medallion --rebuild`, "
            if table.startswith(("silver.", "gold."))
            else ""
        )
        super().__init__(
            f"table {table} cannot be read: {problem}; {rebuild}restore the file from a backup, or roll the table "
            "back to an earlier snapshot (pyiceberg: `table.manage_snapshots().rollback_to_snapshot(id)`) "
            "for the next run to bring it up to date"
        )
        self.table = table


def _damaged(table: str, paths: Iterable[str], error: Exception) -> DamagedTableError:
    """The error naming ``table`` and whichever of its ``paths`` the engine's ``error`` mentions."""
    detail = str(error)
    named = getattr(error, "filename", None)
    path = next((path for path in paths if path == named or path in detail), named)
    return DamagedTableError(table, path, detail)


def _drop_relation(connection: "duckdb.DuckDBPyConnection", namespace: str, name: str) -> None:
    kinds = connection.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [namespace, name],
    ).fetchall()
    for (kind,) in kinds:
        keyword = "VIEW" if kind == "VIEW" else "TABLE"
        connection.execute(f"DROP {keyword} {quote(namespace)}.{quote(name)}")


def _replaceable(connection: "duckdb.DuckDBPyConnection", namespace: str, name: str) -> str:
    """``namespace.name`` quoted, with nothing there any more."""
    connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(namespace)}")
    _drop_relation(connection, namespace, name)
    return f"{quote(namespace)}.{quote(name)}"


def _create_file_view(connection: "duckdb.DuckDBPyConnection", relation: str, label: str, paths: list[str]) -> None:
    import duckdb

    files = ", ".join(literal(path) for path in paths)
    try:
        # DuckDB reads every file's footer here, to bind the view's columns.
        connection.execute(f"CREATE VIEW {relation} AS SELECT * FROM read_parquet([{files}], union_by_name = true)")
    except (duckdb.Error, OSError) as error:
        raise _damaged(label, paths, error) from error


def attach_table(
    connection: "duckdb.DuckDBPyConnection",
    table: "Table",
    namespace: str,
    name: str,
    snapshot_id: int | None = None,
) -> list[str]:
    """Make ``namespace.name`` in DuckDB read the table's current snapshot (or ``snapshot_id``),
    replacing what was there.

    Returns the local paths of the data files the relation reads, by which a later read error
    names its table: none when the relation holds the rows themselves. Raises `DamagedTableError`
    when a data file cannot be read.
    """
    import duckdb

    relation = _replaceable(connection, namespace, name)
    label = f"{namespace}.{name}"
    scan = table.scan(snapshot_id=snapshot_id)
    try:
        tasks = list(scan.plan_files())
    except OSError as error:  # a manifest is missing or unreadable
        raise _damaged(label, [], error) from error
    paths = [task.file.file_path.removeprefix(LOCAL_SCHEME) for task in tasks]
    local = all(task.file.file_path.startswith(LOCAL_SCHEME) for task in tasks)
    if tasks and local and not any(task.delete_files for task in tasks):
        _create_file_view(connection, relation, label, paths)
        return paths
    try:
        # Empty tables, and snapshots with delete files, go through pyiceberg, which applies deletes.
        rows = scan.to_arrow() if tasks else scan.projection().as_arrow().empty_table()
    except (duckdb.Error, OSError) as error:
        raise _damaged(label, paths, error) from error
    connection.register(STAGED_ROWS, rows)
    try:
        connection.execute(f"CREATE TABLE {relation} AS SELECT * FROM {STAGED_ROWS}")
    finally:
        connection.unregister(STAGED_ROWS)
    return []


def attach_catalog(
    connection: "duckdb.DuckDBPyConnection",
    catalog: "Catalog",
    tables: Iterable[tuple[str, str]] | None = None,
    *,
    damaged_fail_when_read: bool = False,
) -> None:
    """Attach ``tables`` (by default every table in the catalog) and create the medallion schemas.

    With ``damaged_fail_when_read``, a damaged table does not stop the others: it is attached as a
    relation that fails with its `DamagedTableError` message when read. A dbt run then rebuilds the
    models that replace it without reading it, and only those that read it fail.
    """
    from lakehouse.iceberg.catalog import catalog_tables

    for namespace in NAMESPACES:
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(namespace)}")
    for namespace, name in catalog_tables(catalog) if tables is None else tables:
        try:
            attach_table(connection, catalog.load_table((namespace, name)), namespace, name)
        except DamagedTableError as damage:
            if not damaged_fail_when_read:
                raise
            relation = f"{quote(namespace)}.{quote(name)}"
            connection.execute(f"CREATE VIEW {relation} AS SELECT error({literal(str(damage))}) AS unreadable")


def _base_tables(node: object) -> Iterator[tuple[str, str]]:
    """Every (schema, table) a serialized DuckDB statement reads, lower-cased as DuckDB matches them."""
    if isinstance(node, dict):
        if node.get("type") == "BASE_TABLE":
            yield str(node["schema_name"]).lower(), str(node["table_name"]).lower()
        for value in node.values():
            yield from _base_tables(value)
    elif isinstance(node, list):
        for value in node:
            yield from _base_tables(value)


def named_tables(connection: "duckdb.DuckDBPyConnection", sql: str) -> set[tuple[str, str]] | None:
    """The medallion's (namespace, table) pairs that ``sql`` names, from DuckDB's own parse of it,
    which reads nothing.

    None when DuckDB cannot serialize one of its statements (it serializes only queries, not
    COPY or EXPLAIN); an empty set when it names no table or does not parse, for DuckDB to report.
    """
    [(serialized,)] = connection.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()
    parsed = json.loads(serialized)
    if parsed["error"]:
        return set() if parsed.get("error_type") == "parser" else None
    return {(schema, table) for schema, table in _base_tables(parsed["statements"]) if schema in NAMESPACES}


@dataclass(frozen=True)
class Records:
    """A result as the command line prints it: its columns, which of them hold numbers, and its rows
    as the Python values Arrow's ``to_pylist`` gives."""

    columns: list[str]
    numeric: list[bool]
    rows: list[dict[str, Any]]

    @classmethod
    def from_arrow(cls, table: "pa.Table") -> "Records":
        import pyarrow as pa

        types = table.schema.types
        numeric = [pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t) for t in types]
        return cls(table.column_names, numeric, table.to_pylist())


# DuckDB's types whose Python values DuckDB gives as Arrow does (tests/unit/test_engines.py compares
# them); a result of others is converted through Arrow.
DUCKDB_INTEGERS = ("tinyint", "smallint", "integer", "bigint", "utinyint", "usmallint", "uinteger", "ubigint")
DUCKDB_NUMBERS = frozenset((*DUCKDB_INTEGERS, "float", "double", "decimal"))
DUCKDB_AS_ARROW = DUCKDB_NUMBERS | {"boolean", "varchar", "date", "timestamp", "blob", "null"}

Fetched = TypeVar("Fetched")


def _arrow(relation: "duckdb.DuckDBPyRelation | None") -> "pa.Table":
    import pyarrow as pa

    # Statements that return no rows (DDL, SET) give no relation.
    return relation.to_arrow_table() if relation is not None else pa.table({})


def _records(relation: "duckdb.DuckDBPyRelation | None") -> Records:
    if relation is None:
        return Records([], [], [])
    kinds = [kind.id for kind in relation.types]
    if not DUCKDB_AS_ARROW.issuperset(kinds):
        return Records.from_arrow(relation.to_arrow_table())
    columns = relation.columns
    rows = [dict(zip(columns, row, strict=True)) for row in relation.fetchall()]
    return Records(columns, [kind in DUCKDB_NUMBERS for kind in kinds], rows)


class LocalEngine:
    """An in-memory DuckDB connection that attaches each Iceberg table when a query first names it.

    A query reads only the tables it names, so a table whose data file is missing fails only the
    queries on it, with a `DamagedTableError`. ``tables`` are attached at once, pinning their
    snapshot; statements DuckDB cannot serialize (COPY, EXPLAIN) attach every table.

    ``catalog`` may be a function that opens it. With ``snapshot_files``, the catalog is opened
    only for a table whose current files the cache does not know yet, and a table read through
    it is remembered there. With ``as_of`` (a snapshot id or a time), each table is read as it
    stood then (`lakehouse.iceberg.history.snapshot_as_of`).
    """

    def __init__(
        self,
        catalog: "Catalog | Callable[[], Catalog]",
        tables: Iterable[tuple[str, str]] | None = None,
        *,
        snapshot_files: SnapshotFiles | None = None,
        as_of: str | None = None,
    ) -> None:
        import duckdb

        self._catalog = catalog
        self.snapshot_files = snapshot_files
        self.as_of = as_of
        self.connection = duckdb.connect()
        # Data file path -> table, so that a file DuckDB fails to read names its table.
        self._files: dict[str, str] = {}
        self._attached: set[tuple[str, str]] = set()
        for namespace in NAMESPACES:
            self.connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(namespace)}")
        if tables is not None:
            self._attach(tables, {})

    @cached_property
    def catalog(self) -> "Catalog":
        return self._catalog() if callable(self._catalog) else self._catalog

    def _attach(self, tables: Iterable[tuple[str, str]], locations: dict[tuple[str, str], str | None]) -> None:
        """Attach ``tables``; ``locations`` are the current metadata locations the catalog holds, when read."""
        for namespace, name in tables:
            if (namespace, name) in self._attached:
                continue
            paths = self._attach_current(namespace, name, locations.get((namespace, name)))
            self._files.update(dict.fromkeys(paths, f"{namespace}.{name}"))
            self._attached.add((namespace, name))

    def _attach_current(self, namespace: str, name: str, location: str | None) -> list[str]:
        if self.as_of is not None:
            table = self.catalog.load_table((namespace, name))
            return attach_table(self.connection, table, namespace, name, _snapshot_as_of(table, self.as_of))
        known = self.snapshot_files.files((namespace, name), location) if self.snapshot_files and location else None
        if known is not None:
            # Each table is attached once to this connection: there is nothing to replace.
            _create_file_view(self.connection, f"{quote(namespace)}.{quote(name)}", f"{namespace}.{name}", known)
            return known
        table = self.catalog.load_table((namespace, name))
        paths = attach_table(self.connection, table, namespace, name)
        if self.snapshot_files and paths:
            self.snapshot_files.remember((namespace, name), table.metadata_location, paths)
        return paths

    def _attach_named(self, sql: str) -> None:
        named = named_tables(self.connection, sql)
        if named == set():
            return
        locations = self.snapshot_files.current_locations() if self.snapshot_files else None
        if locations is None:
            from lakehouse.iceberg.catalog import catalog_tables

            existing = catalog_tables(self.catalog)
        else:
            existing = list(locations)
        if named is not None and (missing := named - set(existing)):
            raise MissingTableError(
                f"no table {', '.join(sorted('.'.join(table) for table in missing))} in the catalog"
            )
        self._attach(existing if named is None else [table for table in existing if table in named], locations or {})

    def _read_error(self, error: "duckdb.Error") -> QueryError:
        detail = str(error)
        for path, table in self._files.items():
            if path in detail:
                return _damaged(table, [path], error)
        return QueryError(detail)

    def _run(self, sql: str, fetch: Callable[["duckdb.DuckDBPyRelation | None"], Fetched]) -> Fetched:
        import duckdb

        self._attach_named(sql)
        try:
            return fetch(self.connection.sql(sql))
        except duckdb.Error as error:
            raise self._read_error(error) from error

    def query(self, sql: str) -> "pa.Table":
        return self._run(sql, _arrow)

    def records(self, sql: str) -> Records:
        return self._run(sql, _records)

    def scalar(self, sql: str) -> Any:
        """The first value of the first column, whatever its SQL type."""
        return self.query(sql).column(0)[0].as_py()

    def close(self) -> None:
        self.connection.close()


@cache
def _trino_types() -> "dict[str, pa.DataType]":
    import pyarrow as pa

    return {
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


def _arrow_type(trino_type: str) -> "pa.DataType | None":
    """The Arrow type for a Trino column type; None lets Arrow infer it from the values."""
    import pyarrow as pa

    if decimal := re.fullmatch(r"decimal\((\d+),\s*(\d+)\)", trino_type):
        return pa.decimal128(int(decimal[1]), int(decimal[2]))
    return _trino_types().get(re.sub(r"\(\d+(,\s*\d+)?\)", "", trino_type))


def _snapshot_as_of(table: "Table", as_of: str) -> int:
    from lakehouse.iceberg.history import NoSuchSnapshotError, snapshot_as_of

    try:
        return snapshot_as_of(table, as_of)
    except NoSuchSnapshotError as error:
        raise QueryError(str(error)) from None


# A medallion table named in SQL (schema.name), not inside a quoted name or another qualified one.
QUALIFIED_TABLE = re.compile(rf"(?<![\w.\"])({'|'.join(NAMESPACES)})\.([A-Za-z_][A-Za-z0-9_]*)\b", re.IGNORECASE)


def sql_as_of(sql: str, catalog: "Catalog", as_of: str) -> str:
    """``sql`` with each medallion table it names read as of ``as_of`` (Trino's FOR VERSION AS OF)."""
    versions: dict[tuple[str, str], int] = {}

    def pinned(match: re.Match[str]) -> str:
        key = (match[1].lower(), match[2].lower())
        if key not in versions:
            from pyiceberg.exceptions import NoSuchTableError

            try:
                table = catalog.load_table(key)
            except NoSuchTableError:
                raise MissingTableError(f"no table {'.'.join(key)} in the catalog") from None
            versions[key] = _snapshot_as_of(table, as_of)
        return f"{match[0]} FOR VERSION AS OF {versions[key]}"

    return QUALIFIED_TABLE.sub(pinned, sql)


class TrinoEngine:
    """Queries through Trino, whose `iceberg` catalog is the lakehouse's shared catalog. With
    ``as_of``, each table a query names is read as it stood then."""

    def __init__(self, settings: Settings, as_of: str | None = None) -> None:
        from lakehouse.trino_login import TrinoLogin

        self.settings = settings
        self.as_of = as_of
        login = TrinoLogin.of(settings)
        self.address = login.url
        self.connection = login.connect()

    def query(self, sql: str) -> "pa.Table":
        import pyarrow as pa
        import trino

        if self.as_of is not None:
            from lakehouse.iceberg.catalog import catalog_for

            sql = sql_as_of(sql, catalog_for(self.settings), self.as_of)
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql)
            rows = cursor.fetchall()
        except trino.exceptions.TrinoQueryError as error:
            kind = MissingTableError if error.error_name == "TABLE_NOT_FOUND" else QueryError
            raise kind(error.message) from error
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

    def records(self, sql: str) -> Records:
        return Records.from_arrow(self.query(sql))

    def scalar(self, sql: str) -> Any:
        return self.query(sql).column(0)[0].as_py()

    def close(self) -> None:
        self.connection.close()


class QueryEngine(Protocol):
    def query(self, sql: str) -> "pa.Table": ...

    def records(self, sql: str) -> Records: ...

    def scalar(self, sql: str) -> Any: ...

    def close(self) -> None: ...


def engine_for(settings: Settings, as_of: str | None = None) -> QueryEngine:
    """The profile's engine: Trino on `stack`, DuckDB over the catalog on `local`; with ``as_of``,
    reading each table as it stood then."""
    if settings.profile is Profile.STACK:
        return TrinoEngine(settings, as_of)

    def open_catalog() -> "Catalog":
        from lakehouse.iceberg.catalog import catalog_for

        return catalog_for(settings)

    return LocalEngine(open_catalog, snapshot_files=SnapshotFiles.for_settings(settings), as_of=as_of)
