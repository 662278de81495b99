"""Kafka topics into their bronze tables, exactly once: the offsets travel in the Iceberg commit.

A run reads each partition from the offset the table's last commit recorded (the partition's low
watermark when nothing is recorded) up to the end it was asked for, and commits the rows and the
new offsets in one snapshot. A run killed halfway leaves the table and its offsets as they were;
the next run reads the same messages again. Messages that are not JSON objects with the declared
columns go to ``<table>_quarantine`` with their partition, offset and error, committed with that
table's own offsets just before the main commit, so a re-run after a crash between the two commits
does not quarantine them twice. The consumer group's offsets are committed last, for monitoring.

A run reads, then writes: a commit's offsets are fixed when its snapshot starts, and a read cut
short by its time limit only knows how far it got at the end. Chunks are parsed as they are read
and held as Arrow tables until the write, so a batch's memory is bounded by its maximum number of
records; the write streams them chunk by chunk into the one commit.
"""

import itertools
import json
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import numpy as np
import pyarrow as pa
import pyarrow.json as pa_json
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.types import IntegerType, LongType, NestedField, StringType, TimestamptzType

from lakehouse.iceberg.catalog import POSITION_COMMIT_PROPERTIES, bronze_table
from lakehouse.iceberg.commits import commit_load, current_row_count, recorded, retry_on_conflict
from lakehouse.iceberg.declarations import INGESTED_AT, KAFKA_OFFSET, KAFKA_PARTITION, TopicDeclaration
from lakehouse.ingest.chunks import with_lineage
from lakehouse.ingest.rows import REASON, declared_schema, split_by_schema
from lakehouse_dev.generators.northwind import reference
from lakehouse_dev.generators.northwind.generator import customers, parse_scale, products

LOG = logging.getLogger(__name__)

# Summary properties of each commit (``lakehouse.kafka-topic``, ``lakehouse.kafka-offsets``).
TOPIC = "kafka-topic"
OFFSETS = "kafka-offsets"
QUARANTINE_SUFFIX = "_quarantine"
KEY, VALUE, ERROR = "key", "value", "error"
KAFKA_OFF = "Kafka is off: set LAKEHOUSE_KAFKA_BOOTSTRAP_SERVERS"

MAX_RECORDS = 500_000
MAX_WAIT_SECONDS = 30.0
CHUNK_MESSAGES = 100_000
# A sensor tick must end within 5 s even with the broker down.
SENSOR_DEADLINE_SECONDS = 3.0
CLIENT_TIMEOUT_SECONDS = 10.0
CONSUME_BATCH = 10_000
PARTITION_FETCH_BYTES = 8 * 1024 * 1024
POLL_SECONDS = 0.5
FIRST_ORDER_ID = 20_000_000
# The seed `lakehouse generate` builds the Northwind database with by default: the simulated events
# name its customers, in their countries, and its products, at their prices.
NORTHWIND_SEED = 42

QUARANTINE_SCHEMA = Schema(
    NestedField(1, KAFKA_PARTITION, IntegerType(), required=True, doc="the Kafka partition of the message"),
    NestedField(2, KAFKA_OFFSET, LongType(), required=True, doc="the offset of the message in its partition"),
    NestedField(3, KEY, StringType(), required=False, doc="the message key as text"),
    NestedField(4, VALUE, StringType(), required=False, doc="the message value as it came (bad UTF-8 replaced)"),
    NestedField(5, ERROR, StringType(), required=True, doc="why the message was not loaded"),
    NestedField(6, INGESTED_AT, TimestamptzType(), required=True, doc="when the load that quarantined it started"),
)
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


class KafkaUnavailable(Exception):
    """The broker did not answer in time; the message names the bootstrap servers."""


class KafkaReadError(Exception):
    """A partition could not be read; the message names the topic, partition and offset."""


def quarantine_name(declaration: TopicDeclaration) -> str:
    return f"{declaration.table}{QUARANTINE_SUFFIX}"


def consumer_group(declaration: TopicDeclaration) -> str:
    return f"lakehouse-bronze-{declaration.table}"


def source_label(topic: str) -> str:
    """The `_source` of a row from ``topic``, in the form the database extraction uses."""
    return f"kafka:{topic}"


def quarantine_table(catalog: Catalog, declaration: TopicDeclaration) -> Table:
    """``bronze.<table>_quarantine``, created on first use."""
    return catalog.create_table_if_not_exists(
        ("bronze", quarantine_name(declaration)), schema=QUARANTINE_SCHEMA, properties=POSITION_COMMIT_PROPERTIES
    )


def encode_offsets(offsets: Mapping[int, int]) -> str:
    return json.dumps({str(partition): offset for partition, offset in sorted(offsets.items())})


def recorded_offsets(table: Table, topic: str) -> dict[int, int]:
    """The next offset to read per partition, as the table's last load from ``topic`` recorded it.

    Offsets recorded for another topic (the declaration was changed) say nothing about this one.
    """
    if recorded(table, TOPIC) != topic:
        return {}
    text = recorded(table, OFFSETS) or "{}"
    try:
        return {int(partition): int(offset) for partition, offset in json.loads(text).items()}
    except (ValueError, AttributeError, TypeError) as error:
        raise ValueError(
            f"{'.'.join(table.name())}: recorded Kafka offsets {text!r} are not a JSON object of partition: offset"
        ) from error


@dataclass(frozen=True)
class Watermarks:
    """Per partition, the first offset still on the broker and the offset the next message will get."""

    low: dict[int, int]
    high: dict[int, int]


@dataclass(frozen=True)
class Batch:
    """Which offsets a load reads: from ``start`` up to (not including) ``end``, per partition."""

    topic: str
    start: dict[int, int]
    end: dict[int, int]
    lost: dict[int, int] = field(default_factory=dict)
    """Messages the broker deleted (retention) before they were loaded, per partition."""

    @property
    def messages(self) -> int:
        return sum(self.end[p] - self.start[p] for p in self.start)


def _capped(start: Mapping[int, int], target: Mapping[int, int], max_records: int) -> dict[int, int]:
    """Ends at most ``target`` with at most ``max_records`` messages in all, shared fairly between
    partitions: a partition with little to read leaves its share to the others."""
    lag = {p: max(target[p] - start[p], 0) for p in start}
    budget = max_records
    end = {}
    for index, partition in enumerate(sorted(lag, key=lambda p: (lag[p], p))):
        take = min(lag[partition], budget // (len(lag) - index))
        end[partition] = start[partition] + take
        budget -= take
    return end


def plan_batch(
    topic: str,
    recorded: Mapping[int, int],
    marks: Watermarks,
    max_records: int,
    requested: Mapping[int, int] | None = None,
) -> Batch:
    """Read from the recorded offsets up to ``requested`` (by default the topic's end), at most
    ``max_records`` messages. A requested end past the topic's end is waited for, as long as the
    read may take."""
    start = {p: max(recorded.get(p, low), low) for p, low in marks.low.items()}
    lost = {p: marks.low[p] - recorded[p] for p in start if recorded.get(p, marks.low[p]) < marks.low[p]}
    target = marks.high if requested is None else {p: requested.get(p, start[p]) for p in start}
    return Batch(topic, start, _capped(start, target, max_records), lost)


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
        return cls(
            [m.partition() for m in received],
            [m.offset() for m in received],
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
class Fetched:
    """How far a read got: per partition, the next offset to read."""

    reached: dict[int, int]
    messages: int
    timed_out: bool


def client_config(bootstrap_servers: str, group_id: str) -> dict[str, object]:
    return {
        "bootstrap.servers": bootstrap_servers,
        "group.id": group_id,
        # Positions live in the Iceberg commit; the group's offsets are committed by hand, after it.
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        # A partition's end is announced, so a read stops there even when the last offsets are
        # transaction markers or compacted away.
        "enable.partition.eof": True,
        # An offset the broker no longer has is an error to report, never a silent jump.
        "auto.offset.reset": "error",
        # Larger fetches than the defaults: on a 2-core machine a batch is read about twice as fast,
        # for about 130 MB more of buffers.
        "max.partition.fetch.bytes": PARTITION_FETCH_BYTES,
        "fetch.max.bytes": 3 * PARTITION_FETCH_BYTES,
        "queued.max.messages.kbytes": 4 * PARTITION_FETCH_BYTES // 1024,
        "logger": logging.getLogger("lakehouse.kafka"),
    }


class TopicClient:
    """One consumer on one topic: its watermarks, a read at explicit offsets, the group's offsets."""

    def __init__(self, bootstrap_servers: str, topic: str, group_id: str, log: logging.Logger = LOG) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.log = log
        self._consumer = Consumer(client_config(bootstrap_servers, group_id))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._consumer.close()

    def watermarks(self, timeout_s: float) -> Watermarks | None:
        """Every partition's watermarks, within ``timeout_s`` in all; None when the topic does not exist."""
        deadline = time.monotonic() + timeout_s
        try:
            metadata = self._consumer.list_topics(self.topic, timeout=_remaining(deadline))
            described = metadata.topics.get(self.topic)
            if described is None or _unknown_topic(described.error):
                return None
            if described.error is not None:
                raise KafkaException(described.error)
            marks = {
                partition: self._consumer.get_watermark_offsets(
                    TopicPartition(self.topic, partition), timeout=_remaining(deadline)
                )
                for partition in sorted(described.partitions)
            }
        except KafkaException as error:
            raise KafkaUnavailable(
                f"Kafka at {self.bootstrap_servers} did not answer for topic {self.topic!r} "
                f"within {timeout_s:g} s: {error.args[0].str()}"
            ) from None
        if any(mark is None for mark in marks.values()):
            raise KafkaUnavailable(
                f"Kafka at {self.bootstrap_servers} did not give the offsets of topic {self.topic!r} "
                f"within {timeout_s:g} s"
            )
        return Watermarks({p: m[0] for p, m in marks.items()}, {p: m[1] for p, m in marks.items()})

    def read(
        self, batch: Batch, max_wait_seconds: float, chunk_messages: int, take: Callable[[Messages], object]
    ) -> Fetched:
        """Hand the batch's messages to ``take`` in chunks of ``chunk_messages``, in order; when
        ``max_wait_seconds`` runs out, stop with what was read so far."""
        reached = dict(batch.start)
        pending = {p for p in batch.start if batch.end[p] > batch.start[p]}
        assigned = [TopicPartition(self.topic, p, batch.start[p]) for p in sorted(pending)]
        self._consumer.assign(assigned)
        # A partition paused at the end of an earlier read stays paused across unassign and assign.
        self._consumer.resume(assigned)
        buffered = Messages()
        count = 0
        deadline = time.monotonic() + max_wait_seconds
        while pending and (remaining := deadline - time.monotonic()) > 0:
            received = self._consumer.consume(CONSUME_BATCH, min(remaining, POLL_SECONDS))
            events = [m for m in received if m.error() is not None]
            # A partition is read to its end when its end-of-partition event or a message past it arrives.
            ended = {m.partition() for m in events if self._end_of_partition(m) >= batch.end[m.partition()]}
            messages = Messages.of([m for m in received if m.error() is None] if events else received)
            inside = [o < batch.end[p] for p, o in zip(messages.partitions, messages.offsets, strict=True)]
            if not all(inside):
                ended |= {p for p, keep in zip(messages.partitions, inside, strict=True) if not keep}
                messages = messages.where(inside)
            # Each partition's messages come in offset order: the last one seen is the furthest.
            for partition, offset in dict(zip(messages.partitions, messages.offsets, strict=True)).items():
                reached[partition] = offset + 1
            for partition in [p for p in pending if p in ended or reached[p] >= batch.end[p]]:
                pending.discard(partition)
                reached[partition] = batch.end[partition]
                self._consumer.pause([TopicPartition(self.topic, partition)])
            buffered.extend(messages)
            count += len(messages)
            while len(buffered) >= chunk_messages:
                take(buffered.slice(0, chunk_messages))
                buffered = buffered.slice(chunk_messages)
        self._consumer.unassign()
        if len(buffered):
            take(buffered)
        return Fetched(reached, count, timed_out=bool(pending))

    def _end_of_partition(self, event: Message) -> int:
        """The offset an end-of-partition event reports; any other error fails the read."""
        error = event.error()
        if error.code() != KafkaError._PARTITION_EOF:
            raise KafkaReadError(
                f"topic {self.topic!r} partition {event.partition()}: reading at offset {event.offset()} failed: "
                f"{error.str()}"
            )
        return int(event.offset())

    def commit_group_offsets(self, offsets: Mapping[int, int]) -> None:
        """Show the load's position to Kafka's own tools (consumer lag); a failure is only logged."""
        try:
            self._consumer.commit(
                offsets=[TopicPartition(self.topic, p, o) for p, o in sorted(offsets.items())], asynchronous=False
            )
        except KafkaException as error:
            self.log.warning(f"topic {self.topic!r}: committing the consumer group's offsets failed: {error}")


def _remaining(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.001)


def _unknown_topic(error: KafkaError | None) -> bool:
    return error is not None and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART


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


def _json_native(kind: pa.DataType) -> bool:
    """Whether Arrow's JSON reader types the value itself; the others (timestamps, decimals) are read
    as text and cast as ``split_by_schema`` casts them, which refuses a timestamp without a zone."""
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind) or _is_text(kind)


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


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
    reading = pa.schema([pa.field(f.name, f.type if _json_native(f.type) else pa.string()) for f in target])
    options = pa_json.ParseOptions(explicit_schema=reading, unexpected_field_behavior="ignore")
    try:
        parsed = pa_json.read_json(pa.py_buffer(data), parse_options=options)
        if parsed.num_rows != len(messages):
            return None
        columns = [parsed[f.name].cast(f.type) for f in target]
        # The reader does not check UTF-8; Python's json.loads, on the careful path, does.
        for column, target_field in zip(columns, target, strict=True):
            if _is_text(target_field.type):
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


def _as_text(value: object) -> str | None:
    """A JSON value as text for ``split_by_schema``: numbers and the rest in their JSON spelling."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # json.dumps spells numbers the same, several times slower
    return json.dumps(value)


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
            column.append(_as_text(document.get(name)))
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


@dataclass(frozen=True)
class IngestResult:
    table: str
    quarantine_table: str
    topic: str
    offsets_before: dict[int, int]
    offsets_after: dict[int, int]
    total_rows: int
    snapshot_id: int | None
    location: str
    seconds: float
    messages_read: int = 0
    rows_written: int = 0
    messages_quarantined: int = 0
    timed_out: bool = False
    lost: dict[int, int] = field(default_factory=dict)
    skipped_reason: str | None = None


def _not_yet_quarantined(rows: pa.Table, already: Mapping[int, int]) -> pa.Table:
    """The rejected messages past the quarantine's recorded offsets: an attempt that died after
    committing the quarantine, before the main commit, has the others there already."""
    positions = zip(rows[KAFKA_PARTITION].to_pylist(), rows[KAFKA_OFFSET].to_pylist(), strict=True)
    return rows.filter(pa.array([offset >= already.get(partition, 0) for partition, offset in positions], pa.bool_()))


class TopicIngestion:
    """One topic's load into its bronze table, as declared in `iceberg/`."""

    def __init__(
        self,
        catalog: Catalog,
        declaration: TopicDeclaration,
        bootstrap_servers: str,
        *,
        chunk_messages: int = CHUNK_MESSAGES,
        log: logging.Logger = LOG,
    ) -> None:
        self.catalog = catalog
        self.declaration = declaration
        self.bootstrap_servers = bootstrap_servers
        self.chunk_messages = chunk_messages
        self.log = log
        self.target = declared_schema(declaration)

    @property
    def topic(self) -> str:
        return self.declaration.topic.name

    def run(
        self,
        end_offsets: Mapping[int, int] | None = None,
        *,
        max_records: int = MAX_RECORDS,
        max_wait_seconds: float = MAX_WAIT_SECONDS,
    ) -> IngestResult:
        """Load up to ``end_offsets`` (by default the topic's end), at most ``max_records`` messages."""
        return retry_on_conflict(lambda: self._attempt(end_offsets, max_records, max_wait_seconds))

    def _attempt(self, end_offsets: Mapping[int, int] | None, max_records: int, max_wait: float) -> IngestResult:
        started = time.perf_counter()
        table = bronze_table(self.catalog, self.declaration)
        quarantine = quarantine_table(self.catalog, self.declaration)
        before = recorded_offsets(table, self.topic)
        if not self.bootstrap_servers:
            return self._result(table, before, before, started, skipped_reason=KAFKA_OFF)
        with TopicClient(self.bootstrap_servers, self.topic, consumer_group(self.declaration), self.log) as client:
            marks = client.watermarks(CLIENT_TIMEOUT_SECONDS)
            if marks is None:
                self.log.info(f"topic {self.topic!r} does not exist yet: nothing to load")
                return self._result(
                    table, before, before, started, skipped_reason=f"topic {self.topic!r} does not exist yet"
                )
            batch = plan_batch(self.topic, before, marks, max_records, end_offsets)
            self._warn_about_gaps(before, marks, batch)
            if batch.messages == 0:
                client.commit_group_offsets(batch.start)
                return self._result(
                    table, before, batch.start, started, lost=batch.lost, skipped_reason="no new messages"
                )
            return self._load(client, batch, max_wait, table, quarantine, before, started)

    def _warn_about_gaps(self, before: dict[int, int], marks: Watermarks, batch: Batch) -> None:
        """Say what the recorded offsets cannot account for, rather than pass over it in silence."""
        for partition, count in batch.lost.items():
            self.log.warning(
                f"topic {self.topic!r} partition {partition}: {count} message(s) from offset "
                f"{before[partition]} were deleted by the broker before they were loaded"
            )
        for partition, offset in before.items():
            if offset > marks.high.get(partition, offset):
                self.log.warning(
                    f"topic {self.topic!r} partition {partition}: the recorded offset {offset} is past the "
                    f"partition's end {marks.high[partition]}; was the topic deleted and created again? Nothing "
                    "of it is loaded until it passes that offset"
                )

    def _load(
        self,
        client: TopicClient,
        batch: Batch,
        max_wait: float,
        table: Table,
        quarantine: Table,
        before: dict[int, int],
        started: float,
    ) -> IngestResult:
        # Chunks are parsed in a thread of their own while the next ones are read: Arrow's JSON
        # reader lets go of the GIL, and a parsed chunk takes less memory than its messages.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="parse-messages") as parser:
            parsing: deque[Future[ParsedMessages]] = deque()
            fetched = client.read(
                batch,
                max_wait,
                self.chunk_messages,
                lambda chunk: parsing.append(parser.submit(parse_messages, chunk, self.target)),
            )
            if not fetched.messages:
                reason = f"no message arrived within max_wait_seconds={max_wait:g}"
                return self._result(table, before, batch.start, started, timed_out=True, skipped_reason=reason)
            if fetched.timed_out:
                self.log.warning(
                    f"topic {self.topic!r}: {max_wait:g} s passed before the batch was read; loading the "
                    f"{fetched.messages} message(s) read, up to offsets {fetched.reached}"
                )
            written, quarantined = self._commit(table, quarantine, parsing, fetched.reached)
        client.commit_group_offsets(fetched.reached)
        return self._result(
            table,
            before,
            fetched.reached,
            started,
            messages_read=written + quarantined,
            rows_written=written,
            messages_quarantined=quarantined,
            timed_out=fetched.timed_out,
            lost=batch.lost,
        )

    def _commit(
        self, table: Table, quarantine: Table, parsing: deque[Future[ParsedMessages]], reached: dict[int, int]
    ) -> tuple[int, int]:
        """Rows and offsets in one commit, the quarantine's just before; returns rows and messages quarantined."""
        already = recorded_offsets(quarantine, self.topic)
        ingested_at = datetime.now(UTC)
        rejected: list[pa.Table] = []

        def valid_chunks() -> Iterator[pa.Table]:
            while parsing:
                parsed = parsing.popleft().result()  # each chunk let go of once written
                rejected.append(parsed.rejected)
                yield parsed.valid

        def commit_quarantine() -> None:
            new = _not_yet_quarantined(pa.concat_tables(rejected), already)
            if new.num_rows:
                offsets = already | {p: max(o, already.get(p, 0)) for p, o in reached.items()}
                stamped = new.append_column(
                    INGESTED_AT, pa.repeat(pa.scalar(ingested_at, pa.timestamp("us", "UTC")), new.num_rows)
                )
                commit_load(quarantine, [stamped], {TOPIC: self.topic, OFFSETS: encode_offsets(offsets)}, replace=False)

        chunks = with_lineage(valid_chunks(), ingested_at, source_label(self.topic))
        position = {TOPIC: self.topic, OFFSETS: encode_offsets(reached)}
        written = commit_load(table, chunks, position, replace=False, before_commit=commit_quarantine)
        return written, sum(r.num_rows for r in rejected)

    def _result(
        self, table: Table, before: dict[int, int], after: dict[int, int], started: float, **outcome: Any
    ) -> IngestResult:
        table.refresh()
        snapshot = table.current_snapshot()
        return IngestResult(
            table=f"bronze.{self.declaration.table}",
            quarantine_table=f"bronze.{quarantine_name(self.declaration)}",
            topic=self.topic,
            offsets_before=before,
            offsets_after=after,
            total_rows=current_row_count(table),
            snapshot_id=snapshot.snapshot_id if snapshot else None,
            location=table.location(),
            seconds=time.perf_counter() - started,
            **outcome,
        )


def next_batch(
    catalog: Catalog,
    declaration: TopicDeclaration,
    bootstrap_servers: str,
    max_records: int = MAX_RECORDS,
    deadline_s: float = SENSOR_DEADLINE_SECONDS,
) -> Batch | None:
    """What the next load would read, from cheap metadata only and within ``deadline_s`` of Kafka's
    time; None when the topic does not exist yet. Creates nothing."""
    topic = declaration.topic.name
    try:
        before = recorded_offsets(catalog.load_table(("bronze", declaration.table)), topic)
    except NoSuchTableError:
        before = {}
    with TopicClient(bootstrap_servers, topic, consumer_group(declaration)) as client:
        marks = client.watermarks(deadline_s)
    return None if marks is None else plan_batch(topic, before, marks, max_records)


def create_topic(bootstrap_servers: str, topic: str, partitions: int) -> None:
    """Create ``topic`` with the broker's default replication, or leave it as it is."""
    admin = AdminClient({"bootstrap.servers": bootstrap_servers, "logger": logging.getLogger("lakehouse.kafka")})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=-1)], operation_timeout=CLIENT_TIMEOUT_SECONDS
    )
    try:
        error = futures[topic].exception(timeout=CLIENT_TIMEOUT_SECONDS)
    except TimeoutError:
        raise KafkaUnavailable(
            f"Kafka at {bootstrap_servers} did not answer within {CLIENT_TIMEOUT_SECONDS:g} s "
            f"when creating topic {topic!r}"
        ) from None
    if error is not None and error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
        raise error


class EventSimulator:
    """Sales as they happen in a Northwind shop: orders of one to five lines, by the customers of the
    classic-size database (now and then a guest without an account), at the products' list prices.
    The same seed gives the same events, but for their times, which are the time each event is made."""

    GUEST_SHARE = 0.05
    ORDERS_PER_SEED = 1_000_000

    def __init__(self, seed: int, northwind_seed: int = NORTHWIND_SEED) -> None:
        self.rng = random.Random(seed)
        known = customers(parse_scale("classic"), northwind_seed)
        self.customers = list(
            zip(known.table["customer_id"].to_pylist(), known.standard_country.to_pylist(), strict=True)
        )
        self.countries = [market.country for market in reference.MARKETS]
        self.prices = [round(price, 2) for price in products(northwind_seed)["unit_price"].to_pylist()]
        # Each seed has an order number range of its own, so two simulators do not share orders.
        self.next_order_id = FIRST_ORDER_ID + (seed % 1000) * self.ORDERS_PER_SEED

    def events(self) -> Iterator[dict[str, object]]:
        rng = self.rng
        discount_weights = list(itertools.accumulate(reference.DISCOUNT_WEIGHTS))
        while True:
            order_id = self.next_order_id
            self.next_order_id += 1
            if rng.random() < self.GUEST_SHARE:
                customer_id, country = None, rng.choice(self.countries)
            else:
                customer_id, country = rng.choice(self.customers)
            # The lines of one order are sold at the same moment.
            event_time = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            for product_id in rng.sample(range(1, len(self.prices) + 1), rng.randint(1, 5)):
                digits = f"{rng.getrandbits(128):032x}"
                yield {
                    "event_id": f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}",
                    "event_time": event_time,
                    "order_id": order_id,
                    "customer_id": customer_id,
                    "country": country,
                    "product_id": product_id,
                    "quantity": rng.randint(1, 20),
                    "unit_price": self.prices[product_id - 1],
                    "discount": rng.choices(reference.DISCOUNTS, cum_weights=discount_weights)[0],
                }


def _json(event: Mapping[str, object]) -> bytes:
    return json.dumps(event).encode()


# One of each kind of bad message, made from a good event, for tests and demonstrations.
POISON: tuple[Callable[[dict[str, object]], bytes | None], ...] = (
    lambda event: _json(event)[:-7],  # cut short: not JSON
    lambda event: _json([event]),  # JSON, but an array
    lambda event: _json(event | {"quantity": "many"}),  # a value of the wrong type
    lambda event: _json({k: v for k, v in event.items() if k != "event_id"}),  # a required field missing
    lambda event: None,  # no value at all (a tombstone)
)


def produce_events(
    bootstrap_servers: str,
    topic: str,
    rate: float | None,
    count: int,
    seed: int,
    poison: int = 0,
    partitions: int = 3,
) -> int:
    """Produce ``count`` sales events to ``topic`` (created with ``partitions`` if missing), keyed by
    order, at about ``rate`` per second or as fast as possible; ``poison`` bad messages are spread
    among them. Returns the number of messages delivered."""
    create_topic(bootstrap_servers, topic, partitions)
    failures: list[KafkaError] = []
    producer = Producer(
        {
            "bootstrap.servers": bootstrap_servers,
            "enable.idempotence": True,  # a retried send is not written twice
            "linger.ms": 20,
            "compression.type": "lz4",
            "logger": logging.getLogger("lakehouse.kafka"),
        }
    )
    total = count + poison
    poisoned = {(k + 1) * total // (poison + 1): k for k in range(poison)}
    started = time.monotonic()
    for index, event in zip(range(total), EventSimulator(seed).events(), strict=False):
        value = POISON[poisoned[index] % len(POISON)](event) if index in poisoned else _json(event)
        while True:
            try:
                producer.produce(
                    topic,
                    key=str(event["order_id"]).encode(),
                    value=value,
                    on_delivery=lambda error, _message: failures.append(error) if error else None,
                )
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.1)
        producer.poll(0)
        if rate and (ahead := started + (index + 1) / rate - time.monotonic()) > 0:
            time.sleep(ahead)
    undelivered = producer.flush(60)
    if undelivered or failures:
        reason = failures[0].str() if failures else "not delivered within 60 s"
        raise KafkaUnavailable(
            f"{undelivered + len(failures)} of {total} message(s) to topic {topic!r} at {bootstrap_servers} "
            f"failed: {reason}"
        )
    return total
