"""The read-ahead of bronze loads lets go of its source when the load stops early."""

import itertools
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from lakehouse.iceberg.commits import SchemaMismatchError, commit_load
from lakehouse.ingest.chunks import prefetched


@dataclass
class SourceProgress:
    """What an endless source saw of its read-ahead thread."""

    thread: threading.Thread | None = None
    chunks_read: int = 0
    closed: bool = False


def endless_source(progress: SourceProgress) -> Iterator[pa.Table]:
    """Chunks for ever, like a cursor over a table larger than the consumer wants."""
    progress.thread = threading.current_thread()
    try:
        for number in itertools.count():
            progress.chunks_read += 1
            yield pa.table({"n": [number]})
    finally:
        progress.closed = True


def consumer_closes(chunks: Generator[pa.Table, None, None], catalog: SqlCatalog) -> None:
    assert next(chunks)["n"].to_pylist() == [0]
    chunks.close()


def commit_fails(chunks: Generator[pa.Table, None, None], catalog: SqlCatalog) -> None:
    """A load whose write fails on the first chunk: ``id`` is required and the chunks lack it."""
    table = catalog.create_table(("bronze", "needs_id"), schema=pa.schema([pa.field("id", pa.int64(), nullable=False)]))
    with pytest.raises(SchemaMismatchError, match="required column 'id' is missing"):
        commit_load(table, chunks, {}, replace=False)


@pytest.mark.parametrize("stop", [consumer_closes, commit_fails])
def test_the_read_ahead_thread_ends_and_closes_its_source_when_the_consumer_stops(
    stop: Callable[[Generator[pa.Table, None, None], SqlCatalog], None], catalog: SqlCatalog
) -> None:
    progress = SourceProgress()
    chunks = prefetched(endless_source(progress))  # still referenced, as by the frame of a load that failed

    stop(chunks, catalog)

    assert progress.thread is not None
    progress.thread.join(timeout=5)
    assert not progress.thread.is_alive(), f"the read-ahead thread is still blocked after {progress.chunks_read} chunks"
    assert progress.closed, "the source was not closed, so its connection stays open"


def test_the_read_ahead_thread_ends_when_the_consumer_is_dropped() -> None:
    progress = SourceProgress()
    chunks = prefetched(endless_source(progress))
    next(chunks)

    del chunks  # collected at once: the generator's close runs, as when a failed load's frame goes

    assert progress.thread is not None
    progress.thread.join(timeout=5)
    assert not progress.thread.is_alive()
    assert progress.closed


def test_every_chunk_arrives_in_order_and_a_source_error_reaches_the_consumer() -> None:
    def failing_source() -> Iterator[pa.Table]:
        yield from (pa.table({"n": [n]}) for n in range(3))
        raise ValueError("cursor lost")

    seen: list[int] = []
    with pytest.raises(ValueError, match="cursor lost"):
        for chunk in prefetched(failing_source()):
            seen.extend(chunk["n"].to_pylist())
    assert seen == [0, 1, 2]
