"""The OLTP source database: inspection through SQLAlchemy, bulk reads as Arrow batches.

Reads go through connectorx, which types columns from the declared SQL types (not from the
first rows, as the SQLite ADBC driver does) and streams record batches, so memory stays
bounded however large the table.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import connectorx
import pyarrow as pa
import sqlalchemy as sa
from adbc_driver_manager import dbapi as adbc_dbapi

# The SQLAlchemy backends extraction is tested on, with the URL scheme connectorx expects.
# connectorx also reads MySQL and SQL Server; add them here together with a test.
CONNECTORX_SCHEMES = {"sqlite": "sqlite", "postgresql": "postgresql"}


class SourceError(Exception):
    """The source database does not hold what a table declaration expects."""


@dataclass(frozen=True)
class CursorRange:
    """Rows with ``lower < column <= upper``; ``lower=None`` means from the first row."""

    column: str
    lower: int | None
    upper: int


def _range_predicates(source: sa.TableClause, cursor_range: CursorRange) -> list[sa.ColumnElement[bool]]:
    cursor = source.c[cursor_range.column]
    predicates = [cursor <= cursor_range.upper]
    if cursor_range.lower is not None:
        predicates.append(cursor > cursor_range.lower)
    return predicates


def has_adbc_driver(url: sa.URL) -> bool:
    return url.get_backend_name() in {"sqlite", "postgresql"}


def _libpq_uri(url: sa.URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def adbc_connect(url: sa.URL) -> Iterator[adbc_dbapi.Connection]:
    """Open an ADBC connection for bulk writes to SQLite or PostgreSQL."""
    if url.get_backend_name() == "sqlite":
        import adbc_driver_sqlite.dbapi as sqlite_dbapi

        connection = sqlite_dbapi.connect(url.database or ":memory:")
    else:
        import adbc_driver_postgresql.dbapi as postgresql_dbapi

        connection = postgresql_dbapi.connect(_libpq_uri(url))
    try:
        yield connection
    finally:
        connection.close()


class SourceDatabase:
    """A SQL database that bronze tables are extracted from."""

    def __init__(self, url: str) -> None:
        self.url = sa.make_url(url)
        backend = self.url.get_backend_name()
        if backend not in CONNECTORX_SCHEMES:
            raise SourceError(
                f"source {self.display_url} uses {backend!r}; supported databases: {', '.join(CONNECTORX_SCHEMES)}"
            )

    @property
    def display_url(self) -> str:
        return self.url.render_as_string(hide_password=True)

    @property
    def label(self) -> str:
        """A short, password-free name for the `_source` column, such as ``postgresql:northwind``."""
        database = (self.url.database or "").rsplit("/", 1)[-1].removesuffix(".db")
        return f"{self.url.get_backend_name()}:{database}"

    @cached_property
    def engine(self) -> sa.Engine:
        return sa.create_engine(self.url)

    def columns(self, table: str) -> list[str]:
        """The table's column names, or a `SourceError` if the table is missing."""
        inspector = sa.inspect(self.engine)
        if not inspector.has_table(table):
            raise SourceError(f"source table {table!r} not found in {self.display_url}")
        return [column["name"] for column in inspector.get_columns(table)]

    def require_columns(self, table: str, expected: list[str], declared_in: str) -> list[str]:
        """All source columns of ``table``, after checking it has every column in ``expected``."""
        present = self.columns(table)
        missing = [name for name in expected if name not in present]
        if missing:
            raise SourceError(
                f"source table {table!r} in {self.display_url} lacks column(s) {', '.join(missing)} "
                f"declared in {declared_in}"
            )
        return present

    def _table(self, table: str, columns: list[str]) -> sa.TableClause:
        return sa.table(table, *(sa.column(name) for name in columns))

    def max_value(self, table: str, column: str) -> Any:
        source = self._table(table, [column])
        with self.engine.connect() as connection:
            return connection.execute(sa.select(sa.func.max(source.c[column]))).scalar_one()

    def _min_value(self, table: str, cursor_range: CursorRange) -> int:
        source = self._table(table, [cursor_range.column])
        with self.engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.min(source.c[cursor_range.column]))).scalar_one())

    def count(self, table: str, cursor_range: CursorRange | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(sa.table(table))
        if cursor_range is not None:
            source = self._table(table, [cursor_range.column])
            query = sa.select(sa.func.count()).select_from(source).where(*_range_predicates(source, cursor_range))
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def select_sql(self, table: str, columns: list[str], cursor_range: CursorRange | None = None) -> str:
        needed = [*columns, cursor_range.column] if cursor_range and cursor_range.column not in columns else columns
        source = self._table(table, needed)
        query = sa.select(*(source.c[name] for name in columns))
        if cursor_range is not None:
            query = query.where(*_range_predicates(source, cursor_range))
        return str(query.compile(self.engine, compile_kwargs={"literal_binds": True}))

    def _connectorx_uri(self) -> str:
        scheme = CONNECTORX_SCHEMES[self.url.get_backend_name()]
        if scheme == "sqlite":
            return f"sqlite://{Path(self.url.database or '').resolve()}"
        return self.url.set(drivername=scheme).render_as_string(hide_password=False)

    def read(
        self,
        table: str,
        columns: list[str],
        cursor_range: CursorRange | None = None,
        *,
        partitions: int = 1,
        batch_rows: int = 262_144,
    ) -> pa.RecordBatchReader:
        """Stream the selected rows as Arrow record batches.

        With a cursor range and ``partitions > 1``, that many connections read slices of the
        range in parallel; worth it where decoding rows, not the scan, is the bottleneck.
        """
        sql = self.select_sql(table, columns, cursor_range)
        parallel: dict[str, Any] = {}
        if cursor_range is not None and partitions > 1:
            lower = cursor_range.lower + 1 if cursor_range.lower is not None else self._min_value(table, cursor_range)
            parallel = {
                "partition_on": cursor_range.column,
                "partition_range": (lower, cursor_range.upper),
                "partition_num": partitions,
            }
        try:
            reader = connectorx.read_sql(
                self._connectorx_uri(), sql, return_type="arrow_stream", batch_size=batch_rows, **parallel
            )
        except RuntimeError as error:
            raise SourceError(f"reading {table!r} from {self.display_url} failed: {error}") from error
        return pa.RecordBatchReader.from_batches(reader.schema, self._guarded(reader, table))

    def _guarded(self, reader: pa.RecordBatchReader, table: str) -> Iterator[pa.RecordBatch]:
        """Turn a failure mid-stream (connectorx reports bad values as a Rust panic) into a `SourceError`."""
        try:
            yield from reader
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException as error:
            raise SourceError(f"reading {table!r} from {self.display_url} failed: {error}") from error
