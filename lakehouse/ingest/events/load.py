"""One topic's batch into its bronze table: read, parse, commit rows and offsets together.

Messages that are not JSON objects with the declared columns go to ``<table>_quarantine`` with
their partition, offset and error, committed with that table's own offsets just before the main
commit, so a re-run after a crash between the two commits does not quarantine them twice. The
consumer group's offsets are committed last, for monitoring.

A run reads, then writes: a commit's offsets are fixed when its snapshot starts, and a read cut
short by its time limit only knows how far it got at the end. Chunks are parsed as they are read
and held as Arrow tables until the write, so a batch's memory is bounded by its maximum number of
records; the write streams them chunk by chunk into the one commit.
"""

import logging
import time
from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.types import IntegerType, LongType, NestedField, StringType, TimestamptzType

from lakehouse.iceberg.catalog import bronze_table, quarantine_name, quarantine_table
from lakehouse.iceberg.commits import commit_load, retry_on_conflict
from lakehouse.iceberg.declarations import INGESTED_AT, KAFKA_OFFSET, KAFKA_PARTITION, TopicDeclaration
from lakehouse.ingest.chunks import with_lineage
from lakehouse.ingest.events.client import CLIENT_TIMEOUT_SECONDS, TopicClient, consumer_group
from lakehouse.ingest.events.offsets import (
    MAX_RECORDS,
    OFFSETS,
    TOPIC,
    Batch,
    Watermarks,
    encode_offsets,
    plan_batch,
    recorded_offsets,
)
from lakehouse.ingest.events.parsing import ERROR, KEY, VALUE, ParsedMessages, parse_messages
from lakehouse.ingest.results import LoadResult, load_result
from lakehouse.ingest.rows import declared_schema

LOG = logging.getLogger(__name__)

KAFKA_OFF = "Kafka is off: set LAKEHOUSE_KAFKA_BOOTSTRAP_SERVERS"

MAX_WAIT_SECONDS = 30.0
CHUNK_MESSAGES = 100_000

QUARANTINE_SCHEMA = Schema(
    NestedField(1, KAFKA_PARTITION, IntegerType(), required=True, doc="the Kafka partition of the message"),
    NestedField(2, KAFKA_OFFSET, LongType(), required=True, doc="the offset of the message in its partition"),
    NestedField(3, KEY, StringType(), required=False, doc="the message key as text"),
    NestedField(4, VALUE, StringType(), required=False, doc="the message value as it came (bad UTF-8 replaced)"),
    NestedField(5, ERROR, StringType(), required=True, doc="why the message was not loaded"),
    NestedField(6, INGESTED_AT, TimestamptzType(), required=True, doc="when the load that quarantined it started"),
)


def source_label(topic: str) -> str:
    """The `_source` of a row from ``topic``, in the form the database extraction uses."""
    return f"kafka:{topic}"


@dataclass(frozen=True)
class TopicDetails:
    """What a topic's batch reports besides its rows: where it read from and to, and how it went."""

    topic: str
    offsets_before: dict[int, int]
    offsets_after: dict[int, int]
    messages_read: int = 0
    timed_out: bool = False
    lost: dict[int, int] = field(default_factory=dict)
    """Messages the broker deleted (retention) before they were loaded, per partition."""


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
    ) -> LoadResult[TopicDetails]:
        """Load up to ``end_offsets`` (by default the topic's end), at most ``max_records`` messages."""
        return retry_on_conflict(lambda: self._attempt(end_offsets, max_records, max_wait_seconds))

    def _attempt(
        self, end_offsets: Mapping[int, int] | None, max_records: int, max_wait: float
    ) -> LoadResult[TopicDetails]:
        started = time.perf_counter()
        table = bronze_table(self.catalog, self.declaration)
        quarantine = quarantine_table(self.catalog, self.declaration, QUARANTINE_SCHEMA)
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
    ) -> LoadResult[TopicDetails]:
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
            rows_quarantined=quarantined,
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
                position = {TOPIC: self.topic, OFFSETS: encode_offsets(offsets)}
                commit_load(quarantine, [with_lineage(new, ingested_at)], position, replace=False)

        chunks = (with_lineage(chunk, ingested_at, source_label(self.topic)) for chunk in valid_chunks())
        position = {TOPIC: self.topic, OFFSETS: encode_offsets(reached)}
        written = commit_load(table, chunks, position, replace=False, before_commit=commit_quarantine)
        return written, sum(r.num_rows for r in rejected)

    def _result(
        self,
        table: Table,
        before: dict[int, int],
        after: dict[int, int],
        started: float,
        *,
        messages_read: int = 0,
        rows_written: int = 0,
        rows_quarantined: int = 0,
        timed_out: bool = False,
        lost: dict[int, int] | None = None,
        skipped_reason: str | None = None,
    ) -> LoadResult[TopicDetails]:
        table.refresh()
        return load_result(
            f"bronze.{self.declaration.table}",
            table,
            TopicDetails(self.topic, before, after, messages_read, timed_out, lost or {}),
            time.perf_counter() - started,
            rows_written=rows_written,
            skipped_reason=skipped_reason,
            rows_quarantined=rows_quarantined,
            quarantine=f"bronze.{quarantine_name(self.declaration)}",
        )
