"""Landing files read as rows of loosely typed values, each numbered by its line or row in the file.

The extension names the format: ``.csv`` (with a header row), ``.jsonl``/``.ndjson`` or ``.parquet``.
CSV fields are read as text and JSON Lines values turned into text where they are not already
of the declared type, so the declared types decide, through one safe cast, what fits. A CSV
record with the wrong number of fields is a rejected row; a JSON line that is not an object
is one too. CSV line numbers are Arrow's record numbers (the header is line 1): blank lines and
line breaks inside quoted fields do not count. Columns a file has beyond the declared ones are
ignored and reported.
"""

import csv
import io
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from lakehouse.iceberg.declarations import FileFormat, LandingDeclaration
from lakehouse.ingest.json_values import json_reading_schema, json_text
from lakehouse.ingest.rows import REASON

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
BATCH_ROWS = 262_144
CSV_HEADER_BYTES = 1 << 16
CSV_BLOCK_BYTES = 8 << 20
JSON_BLOCK_BYTES = 8 << 20


class MalformedFile(Exception):
    """A file that cannot be read as its format or lacks a required column; it is quarantined whole."""


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
class ReadNotes:
    """What a reader saw besides rows: extra columns, and records it could not split into fields."""

    extra_columns: list[str] = field(default_factory=list)
    unreadable: list[dict[str, Any]] = field(default_factory=list)


def _present_columns(names: Sequence[str], target: pa.Schema, notes: ReadNotes) -> list[str]:
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


def _csv_rows(source: pa.NativeFile, target: pa.Schema, notes: ReadNotes) -> Iterator[pa.Table]:
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


def _line_count(data: pa.Buffer) -> int:
    content = np.frombuffer(data, np.uint8)
    newlines = int(np.count_nonzero(content == ord("\n")))
    return newlines + int(content.size > 0 and content[-1] != ord("\n"))


def _jsonl_rows(source: pa.NativeFile, target: pa.Schema, notes: ReadNotes) -> Iterator[pa.Table]:
    data = source.read_buffer()
    options = pa_json.ParseOptions(explicit_schema=json_reading_schema(target), unexpected_field_behavior="infer")
    try:
        rows = pa_json.read_json(
            pa.BufferReader(data), read_options=pa_json.ReadOptions(block_size=JSON_BLOCK_BYTES), parse_options=options
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


def _jsonl_rows_one_by_one(data: pa.Buffer, target: pa.Schema, notes: ReadNotes) -> Iterator[pa.Table]:
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
            values[name].append(json_text(record.get(name)))
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


def _parquet_rows(source: pa.NativeFile, target: pa.Schema, notes: ReadNotes) -> Iterator[pa.Table]:
    parquet = pq.ParquetFile(source)
    columns = _present_columns(parquet.schema_arrow.names, target, notes)
    first = 1
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns):
        yield _numbered(pa.Table.from_batches([batch]), ROW, np.arange(first, first + batch.num_rows))
        first += batch.num_rows


Reader = Callable[[pa.NativeFile, pa.Schema, ReadNotes], Iterator[pa.Table]]
READERS: dict[FileFormat, Reader] = {
    FileFormat.CSV: _csv_rows,
    FileFormat.JSONL: _jsonl_rows,
    FileFormat.PARQUET: _parquet_rows,
}
