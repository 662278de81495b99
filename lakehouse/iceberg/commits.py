"""Commits that carry their source position, so a re-run reads where to resume from the table.

Each load is a single Iceberg transaction: any schema change, the replacement of old rows (for
whole-table loads) and one appended snapshot whose summary records what was loaded. Data is
written chunk by chunk into that one snapshot, so memory stays bounded and readers never see
half a load.
"""

import itertools
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TypeVar

import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.io.pyarrow import _dataframe_to_data_files
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot, ancestors_of

from lakehouse.iceberg.pyiceberg_fixes import evaluate_manifests_on_a_copy

SUMMARY_PREFIX = "lakehouse."
COMMIT_ATTEMPTS = 4

evaluate_manifests_on_a_copy()

T = TypeVar("T")


@contextmanager
def closed_after(source: Iterable[object]) -> Iterator[None]:
    """Close ``source`` on leaving the block if it is a generator: its cleanup (closing a cursor,
    ending a read-ahead thread) then runs at once, not when it is collected, which a traceback
    that keeps its frame alive may put off indefinitely."""
    try:
        yield
    finally:
        if isinstance(source, Generator):
            source.close()


def summary_key(name: str) -> str:
    return f"{SUMMARY_PREFIX}{name}"


def current_row_count(table: Table) -> int:
    """Rows in the current snapshot, from its summary; 0 for a table never written."""
    snapshot = table.current_snapshot()
    records = snapshot.summary["total-records"] if snapshot and snapshot.summary else None
    return int(records) if records is not None else 0


def missing_columns(table: Table, schema: pa.Schema) -> pa.Schema:
    """The fields of ``schema`` the table does not have yet."""
    known = set(table.schema().column_names)
    return pa.schema([field for field in schema if field.name not in known])


def recorded(table: Table, name: str) -> str | None:
    """The latest value the table's own history recorded under ``name``.

    Walks back from the current snapshot, so commits by other writers (compaction, Trino
    maintenance) that do not carry the property are passed over.
    """
    key = summary_key(name)
    snapshot: Snapshot
    for snapshot in ancestors_of(table.current_snapshot(), table.metadata):
        if snapshot.summary is not None and key in snapshot.summary.additional_properties:
            return snapshot.summary.additional_properties[key]
    return None


class SchemaMismatchError(Exception):
    """Rows cannot be written to a table as they are."""


def conform(rows: pa.Table, target: pa.Schema, table_name: str) -> pa.Table:
    """Cast ``rows`` to the table's Arrow schema; absent optional columns read as null."""
    columns = []
    for field in target:
        if field.name not in rows.column_names:
            if not field.nullable:
                raise SchemaMismatchError(f"{table_name}: required column {field.name!r} is missing from the rows")
            columns.append(pa.nulls(rows.num_rows, field.type))
            continue
        column = rows[field.name]
        if not field.nullable and column.null_count:
            raise SchemaMismatchError(
                f"{table_name}: required column {field.name!r} has {column.null_count} null value(s)"
            )
        try:
            columns.append(column.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise SchemaMismatchError(
                f"{table_name}: column {field.name!r} of type {column.type} does not fit {field.type}: {error}"
            ) from error
    return pa.Table.from_arrays(columns, schema=target)


def commit_load(
    table: Table,
    chunks: Iterable[pa.Table],
    position: Mapping[str, str] | Callable[[], Mapping[str, str]],
    *,
    replace: bool,
    new_columns: pa.Schema | None = None,
    before_commit: Callable[[], None] | None = None,
    replaced_files: Sequence[DataFile] = (),
) -> int:
    """Append ``chunks`` (replacing all rows if ``replace``) in one commit recording ``position``.

    ``replaced_files`` are data files the chunks take the place of (a copy-on-write merge): the
    commit removes them in the same snapshot. ``position`` may be a function, called once every
    chunk is written, for a position that only reading the chunks tells (which files a landing load
    could take). ``new_columns`` are added to the table first. ``before_commit`` runs once every
    chunk is written and before the commit: what must be durable before the position moves
    (quarantined input, for one) goes there. Returns the number of rows written.
    """
    properties = {} if callable(position) else {summary_key(name): value for name, value in position.items()}
    rows = 0
    # A replacement removes every data file in the same snapshot that adds the new ones: one
    # snapshot, where pyiceberg's delete-then-append writes two and works out the delete row by row.
    removed = [task.file for task in table.scan().plan_files()] if replace else list(replaced_files)
    with closed_after(chunks), table.transaction() as transaction:
        if new_columns is not None and len(new_columns) > 0:
            with transaction.update_schema() as schema_update:
                schema_update.union_by_name(new_columns)
        # Read once: each read of a transaction's metadata is a deep copy of the table's whole
        # history, tens of milliseconds for a table of a few dozen snapshots.
        metadata = transaction.table_metadata
        target = metadata.schema().as_arrow()
        # One counter across chunks: file names are uuid plus counter, and must not repeat.
        file_counter = itertools.count()
        snapshot = transaction.update_snapshot(snapshot_properties=properties)
        with snapshot.overwrite() if removed else snapshot.fast_append() as append:
            for data_file in removed:
                append.delete_data_file(data_file)
            for chunk in chunks:
                chunk = conform(chunk, target, ".".join(table.name()))
                rows += chunk.num_rows
                # The private writer is what Transaction.append uses; calling it per chunk keeps
                # every chunk in one snapshot, which the public API offers only for unpartitioned tables.
                for data_file in _dataframe_to_data_files(
                    table_metadata=metadata,
                    write_uuid=append.commit_uuid,
                    df=chunk,
                    io=table.io,
                    counter=file_counter,
                ):
                    append.append_data_file(data_file)
            if callable(position):
                # pyiceberg reads the snapshot properties when the append commits, on leaving this block.
                properties.update({summary_key(name): value for name, value in position().items()})
        if before_commit is not None:
            before_commit()
    return rows


def retry_on_conflict(attempt: Callable[[], T], attempts: int = COMMIT_ATTEMPTS) -> T:
    """Run ``attempt`` again when another writer committed first; it must re-read its position."""
    for number in range(1, attempts):
        try:
            return attempt()
        except CommitFailedException:
            time.sleep(0.05 * 2**number)
    return attempt()
