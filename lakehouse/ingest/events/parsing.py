"""Kafka message values into rows of the declared columns, and the messages that do not fit, each with why."""

import itertools
import json
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.json as pa_json
from confluent_kafka import Message

from lakehouse.iceberg.declarations import KAFKA_OFFSET, KAFKA_PARTITION
from lakehouse.ingest.json_values import is_text, json_reading_schema, json_text
from lakehouse.ingest.rows import REASON, split_by_schema

KEY, VALUE, ERROR = "key", "value", "error"

REJECTED_SCHEMA = pa.schema(
    [
        pa.field(KAFKA_PARTITION, pa.int32()),
        pa.field(KAFKA_OFFSET, pa.int64()),
        pa.field(KEY, pa.string()),
        pa.field(VALUE, pa.string()),
        pa.field(ERROR, pa.string()),
    ]
)
INDEX = "_message"
NEWLINE, OPEN, CLOSE = ord("\n"), ord("{"), ord("}")
CAREFUL_BLOCK = 2_000
JSON_KINDS: dict[type, str] = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}


@dataclass
class Messages:
    """Raw messages in the order read, column by column."""

    partitions: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    keys: list[bytes | None] = field(default_factory=list)
    values: list[bytes | None] = field(default_factory=list)

    @classmethod
    def of(cls, received: list[Message]) -> "Messages":
        # Column by column in comprehensions: a loop over the messages costs several times as much.
        # A consumed message always has its partition and offset; only one made locally lacks them.
        return cls(
            cast("list[int]", [m.partition() for m in received]),
            cast("list[int]", [m.offset() for m in received]),
            [m.key() for m in received],
            [m.value() for m in received],
        )

    def __len__(self) -> int:
        return len(self.offsets)

    def _columns(self) -> tuple[list[Any], ...]:
        return self.partitions, self.offsets, self.keys, self.values

    def slice(self, start: int, stop: int | None = None) -> "Messages":
        return Messages(*(column[start:stop] for column in self._columns()))

    def where(self, mask: list[bool]) -> "Messages":
        return Messages(*(list(itertools.compress(column, mask)) for column in self._columns()))

    def take(self, indices: list[int]) -> "Messages":
        return Messages(*([column[i] for i in indices] for column in self._columns()))

    def extend(self, other: "Messages") -> None:
        for column, more in zip(self._columns(), other._columns(), strict=True):
            column.extend(more)


@dataclass(frozen=True)
class ParsedMessages:
    valid: pa.Table
    """The declared columns, typed, then ``_kafka_partition`` and ``_kafka_offset``."""
    rejected: pa.Table
    """Partition, offset, key, value and error of each message that does not fit (``REJECTED_SCHEMA``)."""


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")


def _with_position(columns: list[pa.ChunkedArray | pa.Array], target: pa.Schema, messages: Messages) -> pa.Table:
    return pa.Table.from_arrays(
        [*columns, pa.array(messages.partitions, pa.int32()), pa.array(messages.offsets, pa.int64())],
        names=[*target.names, KAFKA_PARTITION, KAFKA_OFFSET],
    )


def _one_object_per_line(values: list[bytes | None]) -> bytes | None:
    """The values joined by newlines when each is one line that opens and closes a JSON object.

    Arrow's reader skips blank lines, splits lines on carriage returns too and crashes on a line
    that is a bare ``null``: anything but one object per line is for the careful path.
    """
    if None in values:
        return None
    data = b"\n".join(values)  # type: ignore[arg-type]  # no None, checked above
    if not (data.startswith(b"{") and data.endswith(b"}")):
        return None
    text = np.frombuffer(data, np.uint8)
    breaks = np.flatnonzero(text == NEWLINE)  # never the first or last byte, checked above
    if len(breaks) != len(values) - 1:
        return None
    return data if (text[breaks + 1] == OPEN).all() and (text[breaks - 1] == CLOSE).all() else None


def _parse_fast(messages: Messages, target: pa.Schema) -> ParsedMessages | None:
    """Every message at once with Arrow's JSON reader; None if any message needs a closer look."""
    data = _one_object_per_line(messages.values)
    if data is None:
        return None
    options = pa_json.ParseOptions(explicit_schema=json_reading_schema(target), unexpected_field_behavior="ignore")
    try:
        parsed = pa_json.read_json(pa.py_buffer(data), parse_options=options)
        if parsed.num_rows != len(messages):
            return None
        columns = [parsed[f.name].cast(f.type) for f in target]
        # The reader does not check UTF-8; Python's json.loads, on the careful path, does.
        for column, target_field in zip(columns, target, strict=True):
            if is_text(target_field.type):
                column.validate(full=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if any(column.null_count for column, f in zip(columns, target, strict=True) if not f.nullable):
        return None
    return ParsedMessages(_with_position(columns, target, messages), REJECTED_SCHEMA.empty_table())


def _json_object(value: bytes | None) -> dict[str, object]:
    if value is None:
        raise ValueError("the message has no value (a tombstone)")
    try:
        document = json.loads(value)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError alike
        raise ValueError(f"not JSON: {error}") from None
    if not isinstance(document, dict):
        raise ValueError(f"not a JSON object but {JSON_KINDS.get(type(document), 'a number')}")
    return document


def _parse_slow(messages: Messages, target: pa.Schema) -> ParsedMessages:
    """Message by message: each that is not a JSON object with the declared columns is rejected with why."""
    reasons: dict[int, str] = {}
    objects: list[int] = []
    texts: dict[str, list[str | None]] = {name: [] for name in target.names}
    for index, value in enumerate(messages.values):
        try:
            document = _json_object(value)
        except ValueError as error:
            reasons[index] = str(error)
            continue
        objects.append(index)
        for name, column in texts.items():
            column.append(json_text(document.get(name)))
    rows = pa.table({**{n: pa.array(c, pa.string()) for n, c in texts.items()}, INDEX: pa.array(objects, pa.int64())})
    split = split_by_schema(rows, target, keep=[INDEX])
    reasons |= dict(zip(split.rejected[INDEX].to_pylist(), split.rejected[REASON].to_pylist(), strict=True))
    kept = messages.take(split.valid[INDEX].to_pylist())
    valid = _with_position(split.valid.select(target.names).columns, target, kept)
    failing = sorted(reasons)
    bad = messages.take(failing)
    rejected = pa.Table.from_arrays(
        [
            pa.array(bad.partitions, pa.int32()),
            pa.array(bad.offsets, pa.int64()),
            pa.array([_text(key) for key in bad.keys], pa.string()),
            pa.array([_text(value) for value in bad.values], pa.string()),
            pa.array([reasons[i] for i in failing], pa.string()),
        ],
        schema=REJECTED_SCHEMA,
    )
    return ParsedMessages(valid, rejected)


def parse_messages(messages: Messages, target: pa.Schema) -> ParsedMessages:
    """Split JSON messages into rows typed as ``target`` and rejected messages with a reason each.

    Arrow's JSON reader takes the whole chunk when every message fits. Otherwise the chunk is
    halved until the fast path takes each part or the part is small enough to go message by
    message, so one bad message in a chunk costs a few more reads rather than the slow path for all.
    """
    parsed = _parse_fast(messages, target)
    if parsed is not None:
        return parsed
    if len(messages) <= CAREFUL_BLOCK:
        return _parse_slow(messages, target)
    middle = len(messages) // 2
    halves = [parse_messages(messages.slice(0, middle), target), parse_messages(messages.slice(middle), target)]
    return ParsedMessages(
        pa.concat_tables([half.valid for half in halves]), pa.concat_tables([half.rejected for half in halves])
    )
