"""Extract a source table into its bronze Iceberg table, exactly once per source row.

Whole-table loads replace the table when the source content changed (a fingerprint of the rows
is recorded in the commit). Incremental loads read ``previous cursor < cursor <= current max``
and record the new maximum in the same commit as the rows, so a crash before the commit
leaves the table and its position untouched, and a re-run picks up from there.
"""

import hashlib
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from lakehouse.iceberg.catalog import bronze_table
from lakehouse.iceberg.commits import commit_load, missing_columns, recorded, retry_on_conflict
from lakehouse.iceberg.declarations import LoadMode, TableDeclaration
from lakehouse.ingest.chunks import prefetched, rechunk, with_lineage
from lakehouse.ingest.database.source import CursorRange, SourceDatabase
from lakehouse.ingest.results import LoadResult, load_result
from lakehouse.settings import EXTRACT_CHUNK_ROWS

CURSOR = "cursor"
CURSOR_COLUMN = "cursor-column"
FINGERPRINT = "source-fingerprint"
SOURCE_LABEL = "source"


@dataclass(frozen=True)
class DatabaseDetails:
    """What a database table's load reports besides its rows."""

    cursor: str | None
    """The cursor value the table is loaded up to (incremental tables)."""
    added_columns: list[str] = field(default_factory=list)
    """Source columns beyond the declared ones, which the table gained."""


def _fingerprint(rows: pa.Table) -> str:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, rows.schema) as writer:
        writer.write_table(rows)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


class Extraction:
    """One bronze table's load from its source, as declared in `iceberg/`."""

    def __init__(
        self,
        catalog: Catalog,
        source: SourceDatabase,
        declaration: TableDeclaration,
        chunk_rows: int = EXTRACT_CHUNK_ROWS,
    ) -> None:
        self.catalog = catalog
        self.source = source
        self.declaration = declaration
        self.chunk_rows = chunk_rows

    @property
    def source_table(self) -> str:
        return self.declaration.source.table

    def source_columns(self) -> list[str]:
        return self.source.require_columns(
            self.source_table, self.declaration.column_names, self.declaration.declared_in
        )

    def run(self) -> LoadResult[DatabaseDetails]:
        return retry_on_conflict(self._attempt)

    def _attempt(self) -> LoadResult[DatabaseDetails]:
        started = time.perf_counter()
        table = bronze_table(self.catalog, self.declaration)
        columns = self.source_columns()
        if self.declaration.source.load is LoadMode.FULL:
            written, position, skipped = self._load_whole(table, columns)
        else:
            written, position, skipped = self._load_increment(table, columns)
        table.refresh()
        added = [c for c in columns if c not in self.declaration.column_names]
        return load_result(
            f"bronze.{self.declaration.table}",
            table,
            DatabaseDetails(position.get(CURSOR), added),
            time.perf_counter() - started,
            rows_written=written,
            skipped_reason=skipped,
        )

    def _commit(self, table: Table, reader: pa.RecordBatchReader, position: dict[str, str], *, replace: bool) -> int:
        ingested_at, label = datetime.now(UTC), self.source.label + "." + self.source_table
        # Handed to the commit as it is, which closes it: a failed write ends the read-ahead at once.
        chunks = prefetched(
            with_lineage(chunk, ingested_at, label) for chunk in rechunk(reader, reader.schema, self.chunk_rows)
        )
        return commit_load(
            table,
            chunks,
            position | {SOURCE_LABEL: self.source.label},
            replace=replace,
            new_columns=missing_columns(table, reader.schema),
        )

    def _load_whole(self, table: Table, columns: list[str]) -> tuple[int, dict[str, str], str | None]:
        rows = self.source.read(self.source_table, columns).read_all()
        fingerprint = _fingerprint(rows)
        position = {FINGERPRINT: fingerprint}
        if recorded(table, FINGERPRINT) == fingerprint:
            return 0, position, "source unchanged since the last load"
        reader = pa.RecordBatchReader.from_batches(rows.schema, rows.to_batches())
        return self._commit(table, reader, position, replace=True), position, None

    def _load_increment(self, table: Table, columns: list[str]) -> tuple[int, dict[str, str], str | None]:
        cursor_column = self.declaration.source.cursor
        assert cursor_column is not None  # enforced by TableDeclaration validation
        previous = recorded(table, CURSOR)
        lower = int(previous) if previous is not None else None
        upper = self.source.max_value(self.source_table, cursor_column)
        if upper is None or (lower is not None and upper <= lower):
            return 0, {CURSOR: str(previous)} if previous else {}, "no new source rows"
        cursor_range = CursorRange(cursor_column, lower, int(upper))
        reader = self.source.read(self.source_table, columns, cursor_range)
        position = {CURSOR: str(int(upper)), CURSOR_COLUMN: cursor_column}
        return self._commit(table, reader, position, replace=False), position, None


def extract_tables(
    catalog: Catalog,
    source: SourceDatabase,
    declarations: Sequence[TableDeclaration],
    *,
    chunk_rows: int,
    concurrency: int,
) -> Iterator[tuple[TableDeclaration, LoadResult[DatabaseDetails] | Exception]]:
    """Load several tables at once, yielding each outcome as it completes; one failure stops no other.

    Incremental (fact) tables start first: they take longest, and the small dimension tables fill
    the gaps around them.
    """
    ordered = sorted(declarations, key=lambda d: d.source.load is not LoadMode.INCREMENTAL)
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = {pool.submit(Extraction(catalog, source, d, chunk_rows).run): d for d in ordered}
        for future in as_completed(futures):
            try:
                yield futures[future], future.result()
            except Exception as error:
                yield futures[future], error
