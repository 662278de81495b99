"""A landing dataset's new files into its bronze table in one commit, with quarantine.

A file that cannot be read as its format, or lacks a required column, is quarantined whole: it
is copied to ``<landing location>/quarantine/<its path>`` beside a ``.reason.txt``. Rows that do
not fit the declared columns go to ``quarantine/<its path>.rejected.jsonl`` (original values,
their line or row number and the reason) while the file's other rows load. Quarantine files are
written before the commit, so a crash never loses them, and writing them again on a re-run is
harmless. A file's rows are held until it has read cleanly to its end, so a file that breaks
half-way lands none of them: memory is bounded by the largest file, not by the load.

A file that cannot be read at the moment (an I/O error, a lost connection) or that changed while
it was read (still being written) is not taken: it stays pending for the next run, and the load
reports it.
"""

import hashlib
import itertools
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

import pyarrow as pa
from pyiceberg.catalog import Catalog

from lakehouse.iceberg.catalog import bronze_table
from lakehouse.iceberg.commits import commit_load, missing_columns, retry_on_conflict
from lakehouse.iceberg.declarations import SOURCE_ROW, LandingDeclaration
from lakehouse.ingest.chunks import lineage_schema, prefetched, rechunk, with_lineage
from lakehouse.ingest.landing.readers import POSITION_COLUMN, READERS, MalformedFile, ReadNotes, file_format
from lakehouse.ingest.landing.store import LandingError, LandingFile, LandingStore, relative_path
from lakehouse.ingest.landing.tracking import (
    LANDING_FILE_VERSIONS,
    LANDING_FILES,
    REASON_SUFFIX,
    ChangedFile,
    FileVersion,
    changed_files,
    dataset_prefix,
    quarantine_path,
    taken_files,
    unsettled_or_pending,
    versions_json,
)
from lakehouse.ingest.results import LoadResult, load_result
from lakehouse.ingest.rows import REASON, declared_schema, split_by_schema
from lakehouse.settings import EXTRACT_CHUNK_ROWS

DEFAULT_MAX_FILES = 100
REASONS_SHOWN = 10


@dataclass(frozen=True)
class FileOutcome:
    path: str
    rows_written: int
    rows_rejected: int = 0
    malformed: bool = False
    reason: str | None = None
    """Why the file, or some of its rows, were quarantined."""
    ignored_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class LeftPending:
    """A file this load did not take, and why: the next run tries it again."""

    path: str
    reason: str


class FileNotTaken(Exception):
    """A file cannot be taken now, but may be later: unreadable for the moment, or still being written."""


@dataclass(frozen=True)
class LandingDetails:
    """What a landing load reports besides its rows: each file it took, and the files it left."""

    files: tuple[FileOutcome, ...]
    already_taken: tuple[str, ...]
    """Requested paths an earlier load took, which this one left alone."""
    left_pending: tuple[LeftPending, ...] = ()
    """Files this load could not take now; they stay pending."""
    still_pending: int = 0
    """Settled new files beyond this run's limit, and files still settling: later runs take them."""
    changed_after_taken: tuple[ChangedFile, ...] = ()

    @property
    def files_ingested(self) -> list[str]:
        return [f.path for f in self.files if not f.malformed]

    @property
    def files_quarantined(self) -> list[str]:
        return [f.path for f in self.files if f.malformed]

    @property
    def quarantine_reasons(self) -> dict[str, str]:
        return {f.path: f.reason for f in self.files if f.reason is not None}


@dataclass(frozen=True)
class _ReadFile:
    rows: list[pa.Table]
    outcome: FileOutcome
    version: FileVersion


class LandingIngestion:
    """One landing dataset's load into its bronze table, as declared in `iceberg/`."""

    def __init__(
        self,
        catalog: Catalog,
        store: LandingStore,
        declaration: LandingDeclaration,
        chunk_rows: int = EXTRACT_CHUNK_ROWS,
        settle_seconds: float = 0.0,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.declaration = declaration
        self.chunk_rows = chunk_rows
        self.settle_seconds = settle_seconds
        self.target = declared_schema(declaration)
        # The declared columns as the split returns them (nullable, without field metadata), then lineage.
        declared = pa.schema([*(pa.field(f.name, f.type) for f in self.target), pa.field(SOURCE_ROW, pa.int64())])
        self.row_schema = lineage_schema(declared, source_file=True)
        self.source = f"landing/{declaration.landing.dataset}"

    def run(self, files: Sequence[str] = (), max_files: int = DEFAULT_MAX_FILES) -> LoadResult[LandingDetails]:
        """Load ``files`` (paths relative to the landing location), or else the oldest ``max_files`` settled new ones.

        Paths an earlier load took are left alone, so a repeated request loads nothing.
        """
        requested = [relative_path(path).as_posix() for path in dict.fromkeys(files)]
        outside = [path for path in requested if not path.startswith(dataset_prefix(self.declaration))]
        if outside:
            raise LandingError(
                f"bronze.{self.declaration.table} loads files under {dataset_prefix(self.declaration)} only, "
                f"not {', '.join(outside)}"
            )
        return retry_on_conflict(lambda: self._attempt(requested, max_files))

    def _attempt(self, requested: list[str], max_files: int) -> LoadResult[LandingDetails]:
        started = time.perf_counter()
        table = bronze_table(self.catalog, self.declaration)
        taken = taken_files(table)
        listed = {f.path: f for f in self.store.list(dataset_prefix(self.declaration))}
        settling, ready = unsettled_or_pending(listed.values(), set(taken), datetime.now(UTC), self.settle_seconds)
        left: list[LeftPending] = []
        if requested:
            to_load = [listed[path] for path in requested if path in listed and path not in taken]
            left = [LeftPending(path, "no such file") for path in requested if path not in listed and path not in taken]
            still_pending = 0
        else:
            to_load = ready[:max_files]
            still_pending = len(ready) - len(to_load) + len(settling)
        outcomes: list[FileOutcome] = []
        versions: dict[str, FileVersion] = {}
        written = 0
        if to_load:
            # Reading and checking the next files overlaps with writing the rows of the last ones.
            tables = self._landed(to_load, outcomes, versions, left, datetime.now(UTC))
            batches = itertools.chain.from_iterable(t.to_batches() for t in tables)
            chunks = prefetched(rechunk(batches, self.row_schema, self.chunk_rows))
            # Which files were taken is known once each has been read, when the commit is made.
            written = commit_load(
                table,
                chunks,
                lambda: {LANDING_FILES: json.dumps(list(versions)), LANDING_FILE_VERSIONS: versions_json(versions)},
                replace=False,
                new_columns=missing_columns(table, self.row_schema),
            )
            table.refresh()
        return load_result(
            f"bronze.{self.declaration.table}",
            table,
            LandingDetails(
                tuple(outcomes),
                tuple(path for path in requested if path in taken),
                tuple(left),
                still_pending,
                tuple(changed_files(listed.values(), taken)),
            ),
            time.perf_counter() - started,
            rows_written=written,
            rows_quarantined=sum(f.rows_rejected for f in outcomes),
            quarantine=self.store.uri(quarantine_path(dataset_prefix(self.declaration))),
        )

    def _landed(
        self,
        files: Iterable[LandingFile],
        outcomes: list[FileOutcome],
        versions: dict[str, FileVersion],
        left: list[LeftPending],
        ingested_at: datetime,
    ) -> Iterator[pa.Table]:
        """The rows of each file that fit, with lineage; each file's outcome and version, or why it was left,
        are recorded as it is read."""
        for listed in files:
            try:
                read = self._read_file(listed)
            except FileNotTaken as error:
                left.append(LeftPending(listed.path, str(error)))
                continue
            outcomes.append(read.outcome)
            versions[listed.path] = read.version
            for rows in read.rows:
                yield with_lineage(rows, ingested_at, self.source, listed.path, listed.modified)

    def _content(self, listed: LandingFile) -> tuple[bytes, FileVersion]:
        """The file's bytes and version, if it can be read now and did not change since it was listed."""
        try:
            content = self.store.read(listed.path)
            now = self.store.stat(listed.path)
        except OSError as error:
            raise FileNotTaken(f"cannot be read now ({error}); the next run tries again") from error
        if not now.unchanged_since(listed) or len(content) != listed.size:
            raise FileNotTaken(
                f"changed while it was read ({listed.size:,} bytes when listed, {now.size:,} now): still being "
                "written; it is taken once it has settled"
            )
        return content, FileVersion.of(listed, listed.etag or hashlib.md5(content, usedforsecurity=False).hexdigest())

    def _read_file(self, listed: LandingFile) -> _ReadFile:
        path = listed.path
        notes = ReadNotes()
        valid: list[pa.Table] = []
        rejected: list[pa.Table] = []
        content, version = self._content(listed)
        try:
            kind = file_format(path, self.declaration)
            position = POSITION_COLUMN[kind]
            try:
                for rows in READERS[kind](pa.BufferReader(content), self.target, notes):
                    split = split_by_schema(rows, self.target, keep=[position])
                    valid.append(split.valid.rename_columns([*self.target.names, SOURCE_ROW]))
                    if split.rejected.num_rows:
                        rejected.append(split.rejected)
            # The content is in memory, so every error here, Arrow's OSError for a corrupt
            # compressed page included, is about the content.
            except (pa.ArrowException, OSError) as error:
                raise MalformedFile(f"cannot be read as {kind}: {error}") from error
        except MalformedFile as error:
            self._quarantine_file(path, str(error))
            return _ReadFile([], FileOutcome(path, 0, malformed=True, reason=str(error)), version)
        written = sum(rows.num_rows for rows in valid)
        ignored = tuple(notes.extra_columns)
        if not rejected and not notes.unreadable:
            return _ReadFile(valid, FileOutcome(path, written, ignored_columns=ignored), version)
        records = notes.unreadable + [record for rows in rejected for record in rows.to_pylist()]
        records.sort(key=lambda record: record[position])
        reason = self._quarantine_rows(path, records, written, position)
        outcome = FileOutcome(path, written, len(records), reason=reason, ignored_columns=ignored)
        return _ReadFile(valid, outcome, version)

    def _quarantine_file(self, path: str, reason: str) -> None:
        target = quarantine_path(path)
        self.store.copy(path, target)
        self.store.write(
            f"{target}{REASON_SUFFIX}",
            (
                f"{self.store.uri(path)}: {reason}\n"
                f"The whole file is quarantined here; none of its rows were loaded into "
                f"bronze.{self.declaration.table}. Its path is recorded as taken, so deliver a corrected "
                f"file under a new name.\n"
            ).encode(),
        )

    def _quarantine_rows(self, path: str, records: list[dict[str, Any]], loaded: int, position: str) -> str:
        target = quarantine_path(path)
        lines = "".join(json.dumps(record, ensure_ascii=False, default=str) + "\n" for record in records)
        self.store.write(f"{target}.rejected.jsonl", lines.encode())
        where = position.removeprefix("_")
        shown = "\n".join(f"{where} {record[position]}: {record[REASON]}" for record in records[:REASONS_SHOWN])
        summary = (
            f"{len(records)} of {len(records) + loaded} row(s) do not fit the declared columns of "
            f"bronze.{self.declaration.table}"
        )
        self.store.write(
            f"{target}{REASON_SUFFIX}",
            (
                f"{self.store.uri(path)}: {summary}. They are in {PurePosixPath(target).name}.rejected.jsonl, "
                f"one per line with their original values, {where} number and reason; the other {loaded} row(s) "
                f"were loaded. Deliver corrected rows in a file with a new name.\n\n{shown}\n"
            ).encode(),
        )
        first = records[0]
        return f"{summary}; first: {where} {first[position]}: {first[REASON]}"
