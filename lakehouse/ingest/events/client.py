"""The Kafka side of a load: one consumer on one topic, its watermarks, a read at explicit offsets,
the consumer group's offsets; and the creation of a topic. Every failure names the broker or the
topic, partition and offset."""

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from lakehouse.iceberg.declarations import TopicDeclaration
from lakehouse.ingest.events.offsets import Batch, Watermarks
from lakehouse.ingest.events.parsing import Messages

LOG = logging.getLogger(__name__)

CLIENT_TIMEOUT_SECONDS = 10.0
CONSUME_BATCH = 10_000
PARTITION_FETCH_BYTES = 8 * 1024 * 1024
POLL_SECONDS = 0.5


class KafkaUnavailable(Exception):
    """The broker did not answer in time; the message names the bootstrap servers."""


class KafkaReadError(Exception):
    """A partition could not be read; the message names the topic, partition and offset."""


def consumer_group(declaration: TopicDeclaration) -> str:
    return f"lakehouse-bronze-{declaration.table}"


@dataclass(frozen=True)
class Fetched:
    """How far a read got: per partition, the next offset to read."""

    reached: dict[int, int]
    messages: int
    timed_out: bool


def client_config(bootstrap_servers: str, group_id: str) -> dict[str, Any]:
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
            ) from error
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
            ended = {partition for partition, end in map(self._end_of_partition, events) if end >= batch.end[partition]}
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

    def _end_of_partition(self, event: Message) -> tuple[int, int]:
        """The partition and offset an end-of-partition event reports; any other error fails the read."""
        error, partition, offset = event.error(), event.partition(), event.offset()
        if error is None or error.code() != KafkaError._PARTITION_EOF or partition is None or offset is None:
            raise KafkaReadError(
                f"topic {self.topic!r} partition {partition}: reading at offset {offset} failed: "
                f"{error.str() if error is not None else 'an event without an error'}"
            )
        return partition, offset

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


def create_topic(bootstrap_servers: str, topic: str, partitions: int) -> None:
    """Create ``topic`` with the broker's default replication, or leave it as it is."""
    # Kept until the result is in: a collected client abandons its requests.
    config: dict[str, Any] = {"bootstrap.servers": bootstrap_servers, "logger": logging.getLogger("lakehouse.kafka")}
    admin = AdminClient(config)
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=-1)], operation_timeout=CLIENT_TIMEOUT_SECONDS
    )
    try:
        # Read, not raised: a raised error's traceback holds this frame, and so the client, in a reference
        # cycle; until a garbage collection the client lives on, retrying a broker that may have stopped.
        error = futures[topic].exception(timeout=CLIENT_TIMEOUT_SECONDS)
    except TimeoutError:
        raise KafkaUnavailable(
            f"Kafka at {bootstrap_servers} did not answer within {CLIENT_TIMEOUT_SECONDS:g} s "
            f"when creating topic {topic!r}"
        ) from None
    if error is not None and error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
        raise error
