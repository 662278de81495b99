"""A landing dataset's new files into its bronze table in one commit, with quarantine.

A file that cannot be read as its format, or lacks a required column, is quarantined whole: it
is copied to ``<landing location>/quarantine/<its path>`` beside a ``.reason.txt``. Rows that do
not fit the declared columns go to ``quarantine/<its path>.rejected.jsonl`` (original values,
their line or row number and the reason) while the file's other rows load. Quarantine files are
written before the commit, so a crash never loses them, and writing them again on a re-run is
harmless. A file's rows are held until it has read cleanly to its end, so a file that breaks
half-way lands none of them: memory is bounded by the largest file, not by the load.
"""

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
from lakehouse.iceberg.commits import commit_load, retry_on_conflict
from lakehouse.iceberg.declarations import LandingDeclaration
from lakehouse.ingest.chunks import lineage_schema, prefetched, rechunk, with_lineage
from lakehouse.ingest.landing.readers import POSITION_COLUMN, READERS, MalformedFile, ReadNotes, file_format
from lakehouse.ingest.landing.store import LandingError, LandingStore
from lakehouse.ingest.landing.tracking import LANDING_FILES, dataset_prefix, known_files, pending_files, quarantine_path
from lakehouse.ingest.results import LoadResult, load_result
from lakehouse.ingest.rows import REASON, declared_schema, split_by_schema

DEFAULT_MAX_FILES = 100
DEFAULT_CHUNK_ROWS = 1_000_000
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
class LandingDetails:
    """What a landing load reports besides its rows: each file it took, and the requested files it left."""

    files: tuple[FileOutcome, ...]
    already_taken: tuple[str, ...]
    """Requested paths an earlier load took, which this one left alone."""

    @property
    def files_ingested(self) -> list[str]:
        return [f.path for f in self.files if not f.malformed]

    @property
    def files_quarantined(self) -> list[str]:
        return [f.path for f in self.files if f.malformed]

    @property
    def quarantine_reasons(self) -> dict[str, str]:
        return {f.path: f.reason for f in self.files if f.reason is not None}


class LandingIngestion:
    """One landing dataset's load into its bronze table, as declared in `iceberg/`."""

    def __init__(
        self,
        catalog: Catalog,
        store: LandingStore,
        declaration: LandingDeclaration,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.declaration = declaration
        self.chunk_rows = chunk_rows
        self.target = declared_schema(declaration)
        # The declared columns as the split returns them: nullable, without field metadata.
        self.row_schema = lineage_schema(pa.schema([pa.field(f.name, f.type) for f in self.target]), source_file=True)
        self.source = f"landing/{declaration.landing.dataset}"

    def run(self, files: Sequence[str] = (), max_files: int = DEFAULT_MAX_FILES) -> LoadResult[LandingDetails]:
        """Load ``files`` (paths relative to the landing location), or else the oldest ``max_files`` new ones.

        Paths an earlier load took are left alone, so a repeated request loads nothing.
        """
        requested = list(dict.fromkeys(files))
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
        known = known_files(table)
        if requested:
            to_load = [path for path in requested if path not in known]
        else:
            to_load = [f.path for f in pending_files(self.store, self.declaration, known)[:max_files]]
        outcomes: list[FileOutcome] = []
        written = 0
        if to_load:
            # Reading and checking the next files overlaps with writing the rows of the last ones.
            tables = self._landed(to_load, outcomes, datetime.now(UTC))
            batches = itertools.chain.from_iterable(t.to_batches() for t in tables)
            chunks = prefetched(rechunk(batches, self.row_schema, self.chunk_rows))
            written = commit_load(table, chunks, {LANDING_FILES: json.dumps(to_load)}, replace=False)
            table.refresh()
        return load_result(
            f"bronze.{self.declaration.table}",
            table,
            LandingDetails(tuple(outcomes), tuple(path for path in requested if path in known)),
            time.perf_counter() - started,
            rows_written=written,
            rows_quarantined=sum(f.rows_rejected for f in outcomes),
            quarantine=self.store.uri(quarantine_path(dataset_prefix(self.declaration))),
        )

    def _landed(self, paths: Iterable[str], outcomes: list[FileOutcome], ingested_at: datetime) -> Iterator[pa.Table]:
        """The rows of each file that fit, with lineage; each file's outcome is appended to ``outcomes``."""
        for path in paths:
            valid, outcome = self._read_file(path)
            outcomes.append(outcome)
            yield from (with_lineage(rows, ingested_at, self.source, path) for rows in valid)

    def _read_file(self, path: str) -> tuple[list[pa.Table], FileOutcome]:
        notes = ReadNotes()
        valid: list[pa.Table] = []
        rejected: list[pa.Table] = []
        try:
            kind = file_format(path, self.declaration)
            with self.store.open(path) as source:
                try:
                    for rows in READERS[kind](source, self.target, notes):
                        split = split_by_schema(rows, self.target, keep=[POSITION_COLUMN[kind]])
                        valid.append(split.valid.drop_columns([POSITION_COLUMN[kind]]))
                        if split.rejected.num_rows:
                            rejected.append(split.rejected)
                # Arrow reports corrupt compressed pages as OSError; the file was opened above, so
                # an error here is about its content.
                except (pa.ArrowException, OSError) as error:
                    raise MalformedFile(f"cannot be read as {kind}: {error}") from error
        except MalformedFile as error:
            self._quarantine_file(path, str(error))
            return [], FileOutcome(path, 0, malformed=True, reason=str(error))
        written = sum(rows.num_rows for rows in valid)
        ignored = tuple(notes.extra_columns)
        if not rejected and not notes.unreadable:
            return valid, FileOutcome(path, written, ignored_columns=ignored)
        records = notes.unreadable + [record for rows in rejected for record in rows.to_pylist()]
        records.sort(key=lambda record: record[POSITION_COLUMN[kind]])
        reason = self._quarantine_rows(path, records, written, POSITION_COLUMN[kind])
        return valid, FileOutcome(path, written, len(records), reason=reason, ignored_columns=ignored)

    def _quarantine_file(self, path: str, reason: str) -> None:
        target = quarantine_path(path)
        self.store.copy(path, target)
        self.store.write(
            f"{target}.reason.txt",
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
            f"{target}.reason.txt",
            (
                f"{self.store.uri(path)}: {summary}. They are in {PurePosixPath(target).name}.rejected.jsonl, "
                f"one per line with their original values, {where} number and reason; the other {loaded} row(s) "
                f"were loaded. Deliver corrected rows in a file with a new name.\n\n{shown}\n"
            ).encode(),
        )
        first = records[0]
        return f"{summary}; first: {where} {first[position]}: {first[REASON]}"
