"""Landing files into their bronze Iceberg table, each file exactly once.

Partners deliver files under ``<landing location>/<dataset>/`` (any depth below); the extension
names the format: ``.csv`` (with a header row), ``.jsonl``/``.ndjson`` or ``.parquet``. A file's
identity is its path relative to the landing location. Every load records the paths it took,
loaded or quarantined, in its Iceberg commit (``lakehouse.landing-files``), and the files a table
knows are the union over its snapshot history, so a path delivered again is never read again.
A corrected file must therefore be delivered under a new name.

A file that cannot be read as its format, or lacks a required column, is quarantined whole: it
is copied to ``<landing location>/quarantine/<its path>`` beside a ``.reason.txt``. Rows that do
not fit the declared columns go to ``quarantine/<its path>.rejected.jsonl`` (original values,
their line or row number and the reason) while the file's other rows load. Quarantine files are
written before the commit, so a crash never loses them, and writing them again on a re-run is
harmless. A file's rows are held until it has read cleanly to its end, so a file that breaks
half-way lands none of them: memory is bounded by the largest file, not by the load.

CSV fields are read as text and JSON Lines values turned into text where they are not already
of the declared type, so the declared types decide, through one safe cast, what fits. A CSV
record with the wrong number of fields is a rejected row; a JSON line that is not an object
is one too. CSV line numbers are Arrow's record numbers (the header is line 1): blank lines and
line breaks inside quoted fields do not count. Columns a file has beyond the declared ones are
ignored and reported.
"""

import csv
import io
import itertools
import json
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq
from botocore.exceptions import ClientError
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.table import Table
from pyiceberg.table.snapshots import ancestors_of

from lakehouse.iceberg.catalog import bronze_table
from lakehouse.iceberg.commits import commit_load, current_row_count, retry_on_conflict, summary_key
from lakehouse.iceberg.declarations import (
    INGESTED_AT,
    SOURCE,
    SOURCE_FILE,
    FileFormat,
    LandingDeclaration,
)
from lakehouse.ingest.chunks import prefetched, rechunk
from lakehouse.ingest.rows import REASON, declared_schema, split_by_schema
from lakehouse.settings import Settings
from lakehouse_dev.generators.northwind import reference
from lakehouse_dev.generators.northwind.generator import customer_codes
from lakehouse_dev.services.minio import REGION, s3_client

LANDING_FILES = "landing-files"
QUARANTINE = "quarantine"
EXTENSIONS: dict[str, FileFormat] = {
    ".csv": FileFormat.CSV,
    ".jsonl": FileFormat.JSONL,
    ".ndjson": FileFormat.JSONL,
    ".parquet": FileFormat.PARQUET,
}
# Where a rejected row was in its file: the line of a text file, the row of a Parquet file.
LINE = "_line"
ROW = "_row"
POSITION_COLUMN: dict[FileFormat, str] = {FileFormat.CSV: LINE, FileFormat.JSONL: LINE, FileFormat.PARQUET: ROW}
TEXT = "_text"
DEFAULT_MAX_FILES = 100
DEFAULT_CHUNK_ROWS = 1_000_000
BATCH_ROWS = 262_144
CSV_HEADER_BYTES = 1 << 16
CSV_BLOCK_BYTES = 8 << 20
JSON_BLOCK_BYTES = 8 << 20
REASONS_SHOWN = 10


class LandingError(Exception):
    """A landing run was asked for something it cannot do."""


class MalformedFile(Exception):
    """A file that cannot be read as its format or lacks a required column; it is quarantined whole."""


@dataclass(frozen=True)
class LandingFile:
    path: str
    """Relative to the landing location, with ``/`` separators: the file's identity."""
    size: int
    modified: datetime


def _checked(path: str) -> PurePosixPath:
    relative = PurePosixPath(path)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise LandingError(f"landing path {path!r} must be relative to the landing location, without '..'")
    return relative


def _visible(path: str) -> bool:
    # Hidden names (".x", "_x") are files still being written or markers such as _SUCCESS.
    return not any(part.startswith((".", "_")) for part in PurePosixPath(path).parts)


class LandingStore(ABC):
    """Where partners deliver files: a directory or an S3 bucket, addressed by relative path."""

    location: str

    def uri(self, path: str) -> str:
        return f"{self.location.rstrip('/')}/{path}"

    @abstractmethod
    def list(self, prefix: str) -> list[LandingFile]:
        """The visible files whose path starts with ``prefix``."""

    @abstractmethod
    def open(self, path: str) -> pa.NativeFile:
        """The file for random-access reading; FileNotFoundError if there is none."""

    @abstractmethod
    def write(self, path: str, data: bytes) -> None:
        """Create or replace the file at once: a listing never shows it half written."""

    @abstractmethod
    def copy(self, source: str, target: str) -> None: ...


class LocalLandingStore(LandingStore):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = f"file://{root}"

    def _full(self, path: str) -> Path:
        return self.root.joinpath(*_checked(path).parts)

    def list(self, prefix: str) -> list[LandingFile]:
        base = self._full(prefix)
        if not base.is_dir():
            return []
        found = []
        for candidate in base.rglob("*"):
            relative = candidate.relative_to(self.root).as_posix()
            if _visible(relative) and candidate.is_file():
                stat = candidate.stat()
                found.append(LandingFile(relative, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC)))
        return found

    def open(self, path: str) -> pa.NativeFile:
        full = self._full(path)
        if not full.is_file():
            raise FileNotFoundError(f"no landing file {self.uri(path)}")
        return pa.OSFile(str(full))

    def write(self, path: str, data: bytes) -> None:
        full = self._full(path)
        full.parent.mkdir(parents=True, exist_ok=True)
        staging = full.with_name(f".{full.name}.{uuid.uuid4().hex}")
        staging.write_bytes(data)
        staging.replace(full)

    def copy(self, source: str, target: str) -> None:
        self.write(target, self._full(source).read_bytes())


class S3LandingStore(LandingStore):
    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.location = f"s3://{bucket}/{self.prefix}"

    def _key(self, path: str) -> str:
        return self.prefix + _checked(path).as_posix()

    def list(self, prefix: str) -> list[LandingFile]:
        found = []
        # The trailing slash keeps `orders/` from listing `orders_v2/` too.
        key_prefix = self._key(prefix) + ("/" if prefix.endswith("/") else "")
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=key_prefix)
        for page in pages:
            for entry in page.get("Contents", []):
                relative = entry["Key"].removeprefix(self.prefix)
                if _visible(relative) and not relative.endswith("/"):
                    found.append(LandingFile(relative, int(entry["Size"]), entry["LastModified"]))
        return found

    def open(self, path: str) -> pa.NativeFile:
        # The whole object at once: parsing then reads memory, so a parse error is about the content.
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(path))["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise FileNotFoundError(f"no landing file {self.uri(path)}") from None
            raise
        return pa.BufferReader(body)

    def write(self, path: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(path), Body=data)

    def copy(self, source: str, target: str) -> None:
        self.client.copy_object(
            Bucket=self.bucket, Key=self._key(target), CopySource={"Bucket": self.bucket, "Key": self._key(source)}
        )


def open_landing_store(
    location: str, endpoint: str = "", access_key: str = "", secret_key: str = "", region: str = REGION
) -> LandingStore:
    """The store at ``location``: ``file:///directory`` or ``s3://bucket/prefix`` (credentials for S3)."""
    if location.startswith("file://"):
        return LocalLandingStore(Path(location.removeprefix("file://")))
    if location.startswith("s3://"):
        bucket, _, prefix = location.removeprefix("s3://").partition("/")
        return S3LandingStore(s3_client(endpoint, access_key, secret_key, region), bucket, prefix)
    raise LandingError(f"landing location {location!r} is neither file:// nor s3://")


def landing_store(settings: Settings) -> LandingStore:
    return open_landing_store(
        settings.landing, settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key, settings.s3_region
    )


def dataset_prefix(declaration: LandingDeclaration) -> str:
    return f"{declaration.landing.dataset}/"


def quarantine_path(path: str) -> str:
    return f"{QUARANTINE}/{path}"


def known_files(table: Table) -> set[str]:
    """Every landing path the table's history recorded as taken, loaded or quarantined."""
    key = summary_key(LANDING_FILES)
    known: set[str] = set()
    for snapshot in ancestors_of(table.current_snapshot(), table.metadata):
        if snapshot.summary is not None and key in snapshot.summary.additional_properties:
            known.update(json.loads(snapshot.summary.additional_properties[key]))
    return known


def known_landing_files(catalog: Catalog, declaration: LandingDeclaration) -> set[str]:
    """The paths the dataset's bronze table took; none before the table exists. Creates nothing."""
    try:
        return known_files(catalog.load_table(("bronze", declaration.table)))
    except NoSuchTableError:
        return set()


def pending_files(store: LandingStore, declaration: LandingDeclaration, known: set[str]) -> list[LandingFile]:
    """The dataset's files not yet taken, oldest first."""
    listed = store.list(dataset_prefix(declaration))
    return sorted((f for f in listed if f.path not in known), key=lambda f: (f.modified, f.path))


def file_format(path: str, declaration: LandingDeclaration) -> FileFormat:
    suffix = PurePosixPath(path).suffix.lower()
    if suffix not in EXTENSIONS:
        raise MalformedFile(f"unknown format {suffix or '(no extension)'}: expected one of {', '.join(EXTENSIONS)}")
    found = EXTENSIONS[suffix]
    if found not in declaration.landing.formats:
        accepted = ", ".join(declaration.landing.formats)
        raise MalformedFile(f"{found} files are not accepted for {declaration.landing.dataset} (accepted: {accepted})")
    return found


@dataclass
class _ReadNotes:
    """What a reader saw besides rows: extra columns, and records it could not split into fields."""

    extra_columns: list[str] = field(default_factory=list)
    unreadable: list[dict[str, Any]] = field(default_factory=list)


def _present_columns(names: Sequence[str], target: pa.Schema, notes: _ReadNotes) -> list[str]:
    missing = [f.name for f in target if not f.nullable and f.name not in names]
    if missing:
        raise MalformedFile(f"missing required column(s) {', '.join(missing)}; the file has {', '.join(names)}")
    present = [name for name in target.names if name in names]
    if not present:
        raise MalformedFile(f"none of the declared columns; the file has {', '.join(names)}")
    notes.extra_columns = [name for name in names if name not in target.names]
    return present


def _numbered(rows: pa.Table, column: str, numbers: np.ndarray) -> pa.Table:
    return rows.append_column(column, pa.array(numbers, pa.int64()))


def _numbers_skipping(start: int, count: int, skipped: Sequence[int]) -> np.ndarray:
    """The first ``count`` numbers from ``start`` on that are not in ``skipped``."""
    ahead = [number for number in skipped if number >= start]
    candidates = np.arange(start, start + count + len(ahead), dtype=np.int64)
    return np.setdiff1d(candidates, ahead, assume_unique=True)[:count]


def _csv_header(source: pa.NativeFile) -> list[str]:
    head = source.read_at(CSV_HEADER_BYTES, 0).decode("utf-8-sig", errors="replace")
    header = next(csv.reader(io.StringIO(head)), None)
    if not header:
        raise MalformedFile("empty file: no header row")
    return header


def _csv_rows(source: pa.NativeFile, target: pa.Schema, notes: _ReadNotes) -> Iterator[pa.Table]:
    # Only the declared columns are converted, all as text: the split decides what fits.
    columns = _present_columns(_csv_header(source), target, notes)
    skipped: list[int] = []

    def skip(row: pa_csv.InvalidRow) -> str:
        skipped.append(row.number)
        reason = f"expected {row.expected_columns} fields, found {row.actual_columns}"
        notes.unreadable.append({LINE: row.number, TEXT: row.text, REASON: reason})
        return "skip"

    source.seek(0)
    reader = pa_csv.open_csv(
        source,
        # Single-threaded: only then does Arrow tell the skipped records' line numbers.
        read_options=pa_csv.ReadOptions(use_threads=False, block_size=CSV_BLOCK_BYTES),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=skip),
        convert_options=pa_csv.ConvertOptions(
            include_columns=columns,
            column_types=dict.fromkeys(columns, pa.string()),
            strings_can_be_null=True,
            null_values=[""],
            quoted_strings_can_be_null=False,
        ),
    )
    # Arrow numbers records from the header as 1; blank lines are not counted.
    next_line = 2
    for batch in reader:
        lines = _numbers_skipping(next_line, batch.num_rows, skipped)
        if batch.num_rows:
            next_line = int(lines[-1]) + 1
        yield _numbered(pa.Table.from_batches([batch]), LINE, lines)


def _json_types(target: pa.Schema) -> pa.Schema:
    """What Arrow's JSON reader can take the declared columns as: numbers and text, dates as text."""
    native = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean, pa.types.is_string)
    return pa.schema([(f.name, f.type if any(kind(f.type) for kind in native) else pa.string()) for f in target])


def _line_count(data: pa.Buffer) -> int:
    content = np.frombuffer(data, np.uint8)
    newlines = int(np.count_nonzero(content == ord("\n")))
    return newlines + int(content.size > 0 and content[-1] != ord("\n"))


def _as_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def _jsonl_rows(source: pa.NativeFile, target: pa.Schema, notes: _ReadNotes) -> Iterator[pa.Table]:
    data = source.read_buffer()
    try:
        rows = pa_json.read_json(
            pa.BufferReader(data),
            read_options=pa_json.ReadOptions(block_size=JSON_BLOCK_BYTES),
            parse_options=pa_json.ParseOptions(explicit_schema=_json_types(target), unexpected_field_behavior="infer"),
        )
    except pa.ArrowException:
        rows = None
    # Arrow skips blank lines, which would shift line numbers; such files take the line-by-line path.
    if rows is None or rows.num_rows != _line_count(data):
        yield from _jsonl_rows_one_by_one(data, target, notes)
        return
    notes.extra_columns = [name for name in rows.column_names if name not in target.names]
    numbered = _numbered(rows.select(target.names), LINE, np.arange(1, rows.num_rows + 1))
    yield from (pa.Table.from_batches([batch]) for batch in numbered.to_batches(BATCH_ROWS))


def _jsonl_rows_one_by_one(data: pa.Buffer, target: pa.Schema, notes: _ReadNotes) -> Iterator[pa.Table]:
    """Lines whose values do not all parse as their declared kind, read as text line by line."""
    names = target.names
    extra: dict[str, None] = {}
    values: dict[str, list[str | None]] = {name: [] for name in names}
    lines: list[int] = []
    for number, line in enumerate(data.to_pybytes().split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            notes.unreadable.append({LINE: number, TEXT: _decoded(line), REASON: f"not valid JSON: {error}"})
            continue
        if not isinstance(record, dict):
            reason = f"expected a JSON object, found {type(record).__name__}"
            notes.unreadable.append({LINE: number, TEXT: _decoded(line), REASON: reason})
            continue
        extra |= dict.fromkeys(key for key in record if key not in values)
        for name in names:
            values[name].append(_as_text(record.get(name)))
        lines.append(number)
        if len(lines) == BATCH_ROWS:
            yield _text_table(values, lines)
            values, lines = {name: [] for name in names}, []
    notes.extra_columns = list(extra)
    if lines:
        yield _text_table(values, lines)


def _decoded(line: bytes) -> str:
    return line.decode("utf-8", errors="replace").rstrip("\r")


def _text_table(values: dict[str, list[str | None]], lines: list[int]) -> pa.Table:
    columns = {name: pa.array(column, pa.string()) for name, column in values.items()}
    return pa.table(columns | {LINE: pa.array(lines, pa.int64())})


def _parquet_rows(source: pa.NativeFile, target: pa.Schema, notes: _ReadNotes) -> Iterator[pa.Table]:
    parquet = pq.ParquetFile(source)
    columns = _present_columns(parquet.schema_arrow.names, target, notes)
    first = 1
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns):
        yield _numbered(pa.Table.from_batches([batch]), ROW, np.arange(first, first + batch.num_rows))
        first += batch.num_rows


Reader = Callable[[pa.NativeFile, pa.Schema, _ReadNotes], Iterator[pa.Table]]
READERS: dict[FileFormat, Reader] = {
    FileFormat.CSV: _csv_rows,
    FileFormat.JSONL: _jsonl_rows,
    FileFormat.PARQUET: _parquet_rows,
}


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
class LandingResult:
    table: str
    files: tuple[FileOutcome, ...]
    already_taken: tuple[str, ...]
    """Requested paths an earlier load took, which this one left alone."""
    rows_written: int
    total_rows: int
    snapshot_id: int | None
    location: str
    quarantine: str
    seconds: float

    @property
    def files_ingested(self) -> list[str]:
        return [f.path for f in self.files if not f.malformed]

    @property
    def files_quarantined(self) -> list[str]:
        return [f.path for f in self.files if f.malformed]

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    @property
    def quarantine_reasons(self) -> dict[str, str]:
        return {f.path: f.reason for f in self.files if f.reason is not None}


def _landing_row_schema(target: pa.Schema) -> pa.Schema:
    lineage = [
        pa.field(INGESTED_AT, pa.timestamp("us", "UTC")),
        pa.field(SOURCE, pa.string()),
        pa.field(SOURCE_FILE, pa.string()),
    ]
    return pa.schema([pa.field(f.name, f.type) for f in target] + lineage)


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
        self.row_schema = _landing_row_schema(self.target)
        self.source = f"landing/{declaration.landing.dataset}"

    def run(self, files: Sequence[str] = (), max_files: int = DEFAULT_MAX_FILES) -> LandingResult:
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

    def _attempt(self, requested: list[str], max_files: int) -> LandingResult:
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
        snapshot = table.current_snapshot()
        return LandingResult(
            table=f"bronze.{self.declaration.table}",
            files=tuple(outcomes),
            already_taken=tuple(path for path in requested if path in known),
            rows_written=written,
            total_rows=current_row_count(table),
            snapshot_id=snapshot.snapshot_id if snapshot else None,
            location=table.location(),
            quarantine=self.store.uri(quarantine_path(dataset_prefix(self.declaration))),
            seconds=time.perf_counter() - started,
        )

    def _landed(self, paths: Iterable[str], outcomes: list[FileOutcome], ingested_at: datetime) -> Iterator[pa.Table]:
        """The rows of each file that fit, with lineage; each file's outcome is appended to ``outcomes``."""
        ingested = pa.scalar(ingested_at, pa.timestamp("us", "UTC"))
        source = pa.scalar(self.source, pa.string())
        for path in paths:
            valid, outcome = self._read_file(path)
            outcomes.append(outcome)
            label = pa.scalar(path, pa.string())
            for rows in valid:
                count = rows.num_rows
                lineage = [pa.repeat(ingested, count), pa.repeat(source, count), pa.repeat(label, count)]
                yield pa.Table.from_arrays([*rows.columns, *lineage], schema=self.row_schema)

    def _read_file(self, path: str) -> tuple[list[pa.Table], FileOutcome]:
        notes = _ReadNotes()
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


# The sample dataset: order lines sold through partner marketplaces.
SAMPLE_DATASET = "marketplace_orders"
MARKETPLACES = ("amazon", "ebay", "zalando", "cdiscount", "allegro", "bol")
FIRST_ORDER_ID = 1_000_000_000
LAST_ORDER_ID = 2**31 - 1
PRODUCTS = 77
KNOWN_CUSTOMER_SHARE = 0.6
DAYS_BACK = 30


def _sample_rows(rows: int, first_order_id: int, rng: np.random.Generator, today: date) -> pa.Table:
    """Order lines of whole orders (1 to 4 lines, distinct products), order ids counting from ``first_order_id``."""
    lines_per_order = rng.integers(1, 5, rows)
    order = np.repeat(np.arange(rows), lines_per_order)[:rows]
    line_in_order = np.arange(rows) - np.searchsorted(order, order)
    orders = int(order[-1]) + 1 if rows else 0
    codes = np.array(customer_codes(reference.CLASSIC_CUSTOMERS).to_pylist(), dtype=object)
    weights = np.array([m.customer_weight for m in reference.MARKETS], dtype=np.float64)
    countries = np.array([m.country for m in reference.MARKETS], dtype=object)
    customer = np.where(rng.random(orders) < KNOWN_CUSTOMER_SHARE, codes[rng.integers(0, len(codes), orders)], None)
    first_product = rng.integers(0, PRODUCTS, orders)
    discounts = np.array(reference.DISCOUNTS)
    discount_weights = np.array(reference.DISCOUNT_WEIGHTS)
    days_ago = rng.integers(0, DAYS_BACK, orders)
    return pa.table(
        {
            "marketplace": pa.array(
                np.array(MARKETPLACES, dtype=object)[rng.integers(0, len(MARKETPLACES), orders)]
            ).take(order),
            "order_id": pa.array(first_order_id + order, pa.int64()),
            "product_id": pa.array((first_product[order] + line_in_order) % PRODUCTS + 1, pa.int64()),
            "order_date": pa.array(np.datetime64(today, "D") - days_ago.astype("timedelta64[D]")).take(order),
            "customer_id": pa.array(customer, pa.string()).take(order),
            "country": pa.array(countries[rng.choice(len(countries), orders, p=weights / weights.sum())]).take(order),
            "quantity": pa.array(rng.integers(1, 21, rows), pa.int64()),
            "unit_price": pa.array(np.round(rng.uniform(2, 260, rows), 2)),
            "discount": pa.array(
                discounts[rng.choice(len(discounts), rows, p=discount_weights / discount_weights.sum())]
            ),
        }
    )


def _encoded(rows: pa.Table, kind: FileFormat) -> bytes:
    sink = pa.BufferOutputStream()
    if kind is FileFormat.PARQUET:
        pq.write_table(rows, sink, compression="zstd")
    elif kind is FileFormat.CSV:
        pa_csv.write_csv(rows, sink)
    else:
        return "".join(json.dumps(record, default=str) + "\n" for record in rows.to_pylist()).encode()
    return sink.getvalue().to_pybytes()


def deliver_sample_files(
    target: Settings | LandingStore,
    files: int,
    rows: int,
    file_format: FileFormat | str = FileFormat.PARQUET,
    seed: int = 0,
) -> list[str]:
    """Deliver ``files`` files of ``rows`` marketplace order lines each; returns their landing paths.

    The files are ``marketplace_orders/sample-<seed>/part-<n>.<format>``, so delivering the same seed
    again delivers the same paths, which load nothing. Order ids come from the seed and the file's
    number: unique across the files of one delivery and across deliveries of the same shape with
    other seeds.
    """
    kind = FileFormat(file_format)
    store = landing_store(target) if isinstance(target, Settings) else target
    first = FIRST_ORDER_ID + seed * files * rows
    if seed < 0 or first + files * rows - 1 > LAST_ORDER_ID:
        raise ValueError(f"seed {seed} with {files} file(s) of {rows} row(s) takes order ids beyond int range")
    today = datetime.now(UTC).date()
    paths = []
    for index in range(files):
        rng = np.random.default_rng([seed, index])
        path = f"{SAMPLE_DATASET}/sample-{seed}/part-{index:05d}.{kind}"
        store.write(path, _encoded(_sample_rows(rows, first + index * rows, rng, today), kind))
        paths.append(path)
    return paths
