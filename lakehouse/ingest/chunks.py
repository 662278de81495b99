"""Streams of Arrow chunks on their way into a bronze commit: read ahead, cut to size, stamped with lineage."""

import queue
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime

import pyarrow as pa

from lakehouse.iceberg.declarations import INGESTED_AT, SOURCE


def prefetched(chunks: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """Read the next chunk in a background thread while the current one is written."""
    buffer: queue.Queue[pa.Table | BaseException | None] = queue.Queue(maxsize=1)

    def produce() -> None:
        try:
            for chunk in chunks:
                buffer.put(chunk)
        except BaseException as error:  # handed to the consuming thread, which re-raises it
            buffer.put(error)
            return
        buffer.put(None)

    threading.Thread(target=produce, name="extract-prefetch", daemon=True).start()
    while (item := buffer.get()) is not None:
        if isinstance(item, BaseException):
            raise item
        yield item


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


def with_lineage(chunks: Iterable[pa.Table], ingested_at: datetime, source: str) -> Iterator[pa.Table]:
    ingested = pa.scalar(ingested_at, pa.timestamp("us", "UTC"))
    label = pa.scalar(source, pa.string())
    for chunk in chunks:
        rows = chunk.num_rows
        yield chunk.append_column(INGESTED_AT, pa.repeat(ingested, rows)).append_column(SOURCE, pa.repeat(label, rows))
