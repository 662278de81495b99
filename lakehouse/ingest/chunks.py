"""Streams of Arrow chunks on their way into a bronze commit: read ahead, cut to size, stamped with lineage."""

import queue
import threading
from collections.abc import Generator, Iterable, Iterator
from datetime import datetime

import pyarrow as pa

from lakehouse.iceberg.commits import closed_after
from lakehouse.iceberg.declarations import DELIVERED_AT, INGESTED_AT, SOURCE, SOURCE_FILE

LINEAGE_TYPES: dict[str, pa.DataType] = {
    INGESTED_AT: pa.timestamp("us", "UTC"),
    SOURCE: pa.string(),
    SOURCE_FILE: pa.string(),
    DELIVERED_AT: pa.timestamp("us", "UTC"),
}


# How often a producer waiting for room in the read-ahead buffer looks whether its consumer left.
HAND_OVER_POLL_SECONDS = 0.1


def prefetched(chunks: Iterator[pa.Table]) -> Generator[pa.Table, None, None]:
    """Read the next chunk in a background thread while the current one is written.

    When the consumer stops early (its writer failed, or it closed or dropped this generator),
    the thread stops too and closes ``chunks``, which may hold a database connection: a thread
    blocked for good on a full buffer would keep it open for the life of the process.
    """
    buffer: queue.Queue[pa.Table | BaseException | None] = queue.Queue(maxsize=1)
    consumer_gone = threading.Event()

    def hand_over(item: pa.Table | BaseException | None) -> bool:
        while not consumer_gone.is_set():
            try:
                buffer.put(item, timeout=HAND_OVER_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        # Closed here, in the thread that runs it: a generator cannot be closed while running elsewhere.
        with closed_after(chunks):
            try:
                for chunk in chunks:
                    if not hand_over(chunk):
                        return
            except BaseException as error:  # handed to the consuming thread, which re-raises it
                hand_over(error)
                return
        hand_over(None)

    threading.Thread(target=produce, name="extract-prefetch", daemon=True).start()
    try:
        while (item := buffer.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        consumer_gone.set()


def rechunk(batches: Iterable[pa.RecordBatch], schema: pa.Schema, chunk_rows: int) -> Iterator[pa.Table]:
    pending: list[pa.RecordBatch] = []
    size = 0
    for batch in batches:
        pending.append(batch)
        size += batch.num_rows
        if size >= chunk_rows:
            yield pa.Table.from_batches(pending, schema)
            pending, size = [], 0
    if pending:
        yield pa.Table.from_batches(pending, schema)


def with_lineage(
    rows: pa.Table,
    ingested_at: datetime,
    source: str | None = None,
    source_file: str | None = None,
    delivered_at: datetime | None = None,
) -> pa.Table:
    """``rows`` with the lineage columns every bronze load adds: when the load started, then, where the
    table has them, the source the rows came from, the file they were in and when it was delivered."""
    lineage = ((INGESTED_AT, ingested_at), (SOURCE, source), (SOURCE_FILE, source_file), (DELIVERED_AT, delivered_at))
    for name, value in lineage:
        if value is not None:
            rows = rows.append_column(name, pa.repeat(pa.scalar(value, LINEAGE_TYPES[name]), rows.num_rows))
    return rows


def lineage_schema(columns: pa.Schema, *, source_file: bool = False) -> pa.Schema:
    """The schema ``with_lineage`` gives rows of ``columns`` stamped with a source (and a file, when delivered)."""
    names = [INGESTED_AT, SOURCE, SOURCE_FILE, DELIVERED_AT] if source_file else [INGESTED_AT, SOURCE]
    return pa.schema([*columns, *(pa.field(name, LINEAGE_TYPES[name]) for name in names)])
