"""Extract a source table into its bronze Iceberg table, exactly once per source row.

Whole-table loads replace the table when the source content changed (a fingerprint of the rows
is recorded in the commit). Incremental loads read ``previous cursor < cursor <= current max``
and record the new maximum in the same commit as the rows, so a crash before the commit
leaves the table and its position untouched, and a re-run picks up from there.
"""

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from lakehouse.iceberg.catalog import bronze_table, quarantine_name
from lakehouse.iceberg.commits import commit_load, missing_columns, recorded, retry_on_conflict
from lakehouse.iceberg.declarations import LoadMode, TableDeclaration
from lakehouse.ingest.chunks import prefetched, rechunk, with_lineage
from lakehouse.ingest.database.changes import ChangeCapture, ChangeDetails
from lakehouse.ingest.database.quarantine import quarantine
from lakehouse.ingest.database.source import CursorRange, SourceDatabase, SourceError
from lakehouse.ingest.results import LoadResult, load_result
from lakehouse.ingest.rows import declared_schema, split_by_schema
from lakehouse.settings import EXTRACT_CHUNK_ROWS

CURSOR = "cursor"
BACKFILL = "backfill"
CURSOR_COLUMN = "cursor-column"
FINGERPRINT = "source-fingerprint"
SOURCE_LABEL = "source"


@dataclass(frozen=True)
class Loaded:
    written: int
    position: dict[str, str]
    """What the commit records."""
    skipped: str | None = None
    """Why nothing was written, when nothing was."""
    quarantined: int = 0


class BackfillError(Exception):
    """A backfill was asked of a table that cannot have one."""


@dataclass(frozen=True)
class DatabaseDetails:
    """What a database table's load reports besides its rows."""

    cursor: str | None
    """The cursor value the table is loaded up to (incremental tables)."""
    added_columns: list[str] = field(default_factory=list)
    """Source columns beyond the declared ones, which the table gained."""


DatabaseLoad = LoadResult[DatabaseDetails] | LoadResult[ChangeDetails]


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
        self.target = declared_schema(declaration)
        self.mode = declaration.load_mode(source.kind)

    @property
    def source_table(self) -> str:
        return self.declaration.source.table

    def source_columns(self) -> list[str]:
        return self.source.require_columns(
            self.source_table, self.declaration.column_names, self.declaration.declared_in
        )

    def run(self) -> LoadResult[DatabaseDetails]:
        return retry_on_conflict(lambda: self._attempt(self._load))

    def backfill(self, first: int | None = None, last: int | None = None) -> LoadResult[DatabaseDetails]:
        """Load the source rows with ``first <= cursor <= last`` that bronze lacks, the cursor left where it is.

        By default every row up to the recorded cursor: rows that arrived below the cursor after it
        passed them, or that were lost, load exactly once; rows bronze has are not loaded again.
        """
        return retry_on_conflict(lambda: self._attempt(lambda t, c: self._load_missing(t, c, first, last)))

    def _attempt(self, load: Callable[[Table, list[str]], Loaded]) -> LoadResult[DatabaseDetails]:
        started = time.perf_counter()
        table = bronze_table(self.catalog, self.declaration)
        columns = self.source_columns()
        loaded = load(table, columns)
        table.refresh()
        added = [c for c in columns if c not in self.declaration.column_names]
        return load_result(
            f"bronze.{self.declaration.table}",
            table,
            DatabaseDetails(loaded.position.get(CURSOR), added),
            time.perf_counter() - started,
            rows_written=loaded.written,
            skipped_reason=loaded.skipped,
            rows_quarantined=loaded.quarantined,
            quarantine=f"bronze.{quarantine_name(self.declaration)}",
        )

    def _commit(self, table: Table, reader: pa.RecordBatchReader, position: dict[str, str], *, replace: bool) -> Loaded:
        """Rows that fit the declared columns in one commit recording ``position``; the others in the quarantine,
        committed just before."""
        ingested_at, label = datetime.now(UTC), self.source.label + "." + self.source_table
        extra = [name for name in reader.schema.names if name not in self.target.names]
        rejected: list[pa.Table] = []

        def fitting() -> Iterator[pa.Table]:
            for chunk in rechunk(reader, reader.schema, self.chunk_rows):
                split = split_by_schema(chunk, self.target, keep=extra)
                if split.rejected.num_rows:
                    rejected.append(split.rejected)
                yield with_lineage(split.valid, ingested_at, label)

        quarantined: list[int] = []

        def keep_rejected() -> None:
            quarantined.append(
                quarantine(self.catalog, self.declaration, rejected, ingested_at, position, replace=replace)
            )

        # Handed to the commit as it is, which closes it: a failed write ends the read-ahead at once.
        written = commit_load(
            table,
            prefetched(fitting()),
            position | {SOURCE_LABEL: self.source.label},
            replace=replace,
            new_columns=missing_columns(table, reader.schema),
            before_commit=keep_rejected,
        )
        return Loaded(written, position, quarantined=sum(quarantined))

    def _load(self, table: Table, columns: list[str]) -> Loaded:
        if self.mode is LoadMode.CDC:
            raise SourceError(
                f"bronze.{self.declaration.table} is captured from {self.source.display_url}'s change log: "
                "`extract_tables` loads it, with the source's other captured tables, by `ChangeCapture`"
            )
        if self.mode is LoadMode.FULL:
            return self._load_whole(table, columns)
        return self._load_increment(table, columns)

    def _load_whole(self, table: Table, columns: list[str]) -> Loaded:
        rows = self.source.read(self.source_table, columns).read_all()
        fingerprint = _fingerprint(rows)
        position = {FINGERPRINT: fingerprint}
        if recorded(table, FINGERPRINT) == fingerprint:
            return Loaded(0, position, "source unchanged since the last load")
        reader = pa.RecordBatchReader.from_batches(rows.schema, rows.to_batches())
        return self._commit(table, reader, position, replace=True)

    def _load_increment(self, table: Table, columns: list[str]) -> Loaded:
        cursor_column = self.declaration.source.cursor
        assert cursor_column is not None  # enforced by TableDeclaration validation
        previous = recorded(table, CURSOR)
        lower = int(previous) if previous is not None else None
        upper = self.source.max_value(self.source_table, cursor_column)
        if upper is None or (lower is not None and upper <= lower):
            return Loaded(0, {CURSOR: str(previous)} if previous else {}, "no new source rows")
        cursor_range = CursorRange(cursor_column, lower, int(upper))
        reader = self.source.read(self.source_table, columns, cursor_range)
        position = {CURSOR: str(int(upper)), CURSOR_COLUMN: cursor_column}
        return self._commit(table, reader, position, replace=False)

    def _load_missing(self, table: Table, columns: list[str], first: int | None, last: int | None) -> Loaded:
        name, cursor_column = f"bronze.{self.declaration.table}", self.declaration.source.cursor
        if self.mode is not LoadMode.INCREMENTAL or cursor_column is None:
            how = "whole on every run" if self.mode is LoadMode.FULL else "by change capture"
            raise BackfillError(f"{name} is loaded {how}: only incremental tables have rows to backfill")
        cursor = recorded(table, CURSOR)
        if cursor is None:
            raise BackfillError(f"{name} was never loaded: run its extraction (`lakehouse materialize`) first")
        top = int(cursor) if last is None else min(last, int(cursor))
        in_range = CursorRange(cursor_column, None if first is None else first - 1, top)
        rows = self.source.read(self.source_table, columns, in_range).read_all()
        held = self._loaded_keys(table, rows.select(self.declaration.key).schema, cursor_column, first, top)
        missing = rows.join(held, keys=self.declaration.key, join_type="left anti")
        backfilled = f"{first if first is not None else ''}..{top}"
        position = {CURSOR: cursor, CURSOR_COLUMN: cursor_column, BACKFILL: backfilled}
        if missing.num_rows == 0:
            return Loaded(0, position, f"bronze has every source row with {cursor_column} in {backfilled}")
        reader = pa.RecordBatchReader.from_batches(missing.schema, missing.to_batches())
        return self._commit(table, reader, position, replace=False)

    def _loaded_keys(self, table: Table, keys: pa.Schema, cursor_column: str, first: int | None, top: int) -> pa.Table:
        in_range = f"{cursor_column} <= {top}" + (f" AND {cursor_column} >= {first}" if first is not None else "")
        held = table.scan(row_filter=in_range, selected_fields=tuple(keys.names)).to_arrow()
        return held.select(keys.names).cast(keys)


def extract_tables(
    catalog: Catalog,
    source: SourceDatabase,
    declarations: Sequence[TableDeclaration],
    *,
    chunk_rows: int,
    concurrency: int,
) -> Iterator[tuple[TableDeclaration, DatabaseLoad | Exception]]:
    """Load several tables at once, yielding each outcome as it completes; one failure stops no other.

    The tables captured from the source's change log load together, from one slot, in one of the
    threads. Incremental (fact) tables start first: they take longest, and the small dimension
    tables fill the gaps around them.
    """
    captured = [d for d in declarations if d.load_mode(source.kind) is LoadMode.CDC]
    extracted = sorted(
        (d for d in declarations if d not in captured),
        key=lambda d: d.load_mode(source.kind) is not LoadMode.INCREMENTAL,
    )
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures: dict[Future[Any], list[TableDeclaration]] = {}
        if captured:
            futures[pool.submit(ChangeCapture(catalog, source, captured, chunk_rows).run)] = captured
        for declaration in extracted:
            futures[pool.submit(Extraction(catalog, source, declaration, chunk_rows).run)] = [declaration]
        for future in as_completed(futures):
            tables = futures[future]
            try:
                outcome = future.result()
            except Exception as error:
                for declaration in tables:
                    yield declaration, error
                continue
            yield from zip(tables, outcome if isinstance(outcome, list) else [outcome], strict=True)
