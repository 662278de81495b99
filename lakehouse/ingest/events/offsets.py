"""Which offsets a Kafka load reads, and how they travel in the Iceberg commit.

A run reads each partition from the offset the table's last commit recorded (the partition's low
watermark when nothing is recorded) up to the end it was asked for, and commits the rows and the
new offsets in one snapshot. A run killed halfway leaves the table and its offsets as they were;
the next run reads the same messages again.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from pyiceberg.table import Table

from lakehouse.iceberg.commits import recorded

# Summary properties of each commit (``lakehouse.kafka-topic``, ``lakehouse.kafka-offsets``).
TOPIC = "kafka-topic"
OFFSETS = "kafka-offsets"

MAX_RECORDS = 500_000


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
