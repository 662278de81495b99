"""A real Kafka broker from the harness: what is produced is consumed back exactly, and survives a restart."""

import json
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

from lakehouse_dev.services.kafka import KafkaBroker

pytestmark = pytest.mark.stack

TOPIC = "sales-events"
PARTITIONS = 3
MESSAGES = 1000


def sale(order_id: int) -> dict[str, object]:
    return {"order_id": order_id, "customer": f"C{order_id % 37:03d}", "amount": round(order_id * 1.25, 2)}


def produce(broker: KafkaBroker, topic: str, events: list[dict[str, object]]) -> None:
    errors: list[KafkaError] = []
    # Idempotence: a retried send is not written twice, so "exactly" holds even on a slow machine.
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "enable.idempotence": True})
    for event in events:
        producer.produce(
            topic,
            key=str(event["order_id"]),
            value=json.dumps(event),
            on_delivery=lambda error, _message: errors.append(error) if error else None,
        )
        producer.poll(0)
    assert producer.flush(30) == 0
    assert errors == []


def consume(broker: KafkaBroker, topic: str, group: str, expected: int, timeout_s: float = 60.0) -> list[dict]:
    """Everything in ``topic`` from the start, offsets committed; polled a second past ``expected`` to
    catch duplicates."""
    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    events: list[dict] = []
    try:
        deadline = time.monotonic() + timeout_s
        while len(events) < expected and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=500, timeout=1.0):
                if message.error():
                    raise KafkaException(message.error())
                event = json.loads(message.value())
                assert message.key().decode() == str(event["order_id"])
                events.append(event)
        events.extend(json.loads(message.value()) for message in consumer.consume(num_messages=10, timeout=1.0))
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return events


def high_watermarks(broker: KafkaBroker, topic: str, partitions: int) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": broker.bootstrap_servers, "group.id": f"watermarks-{uuid.uuid4()}"})
    try:
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
    finally:
        consumer.close()


@pytest.fixture(scope="module")
def sales_events(kafka: KafkaBroker) -> list[dict[str, object]]:
    kafka.create_topic(TOPIC, PARTITIONS)
    events = [sale(order_id) for order_id in range(MESSAGES)]
    produce(kafka, TOPIC, events)
    return events


def test_create_topic_is_idempotent(kafka: KafkaBroker, sales_events: list[dict[str, object]]) -> None:
    kafka.create_topic(TOPIC, PARTITIONS)
    assert len(kafka.admin().list_topics(TOPIC, timeout=10).topics[TOPIC].partitions) == PARTITIONS


def test_every_message_is_consumed_exactly_once(kafka: KafkaBroker, sales_events: list[dict[str, object]]) -> None:
    consumed = consume(kafka, TOPIC, f"exactly-{uuid.uuid4()}", MESSAGES)
    assert len(consumed) == MESSAGES
    assert sorted(consumed, key=lambda event: event["order_id"]) == sales_events


def test_messages_are_spread_over_the_partitions(kafka: KafkaBroker, sales_events: list[dict[str, object]]) -> None:
    watermarks = high_watermarks(kafka, TOPIC, PARTITIONS)
    assert sum(watermarks.values()) == MESSAGES
    assert all(watermarks.values())


def test_committed_offsets_are_visible_to_the_admin_client(
    kafka: KafkaBroker, sales_events: list[dict[str, object]]
) -> None:
    group = f"offsets-{uuid.uuid4()}"
    consume(kafka, TOPIC, group, MESSAGES)
    admin = kafka.admin()
    committed = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(timeout=10)
    offsets = {partition.partition: partition.offset for partition in committed.topic_partitions}
    assert offsets == high_watermarks(kafka, TOPIC, PARTITIONS)


@pytest.mark.usefixtures("kafka")  # skipped with the session's broker when Kafka cannot run here
def test_a_restarted_broker_keeps_its_messages(tmp_path: Path) -> None:
    events = [sale(order_id) for order_id in range(100)]
    broker = KafkaBroker(tmp_path / "kafka")
    try:
        broker.start()
        broker.create_topic(TOPIC, PARTITIONS)
        produce(broker, TOPIC, events)
    finally:
        broker.stop()
    # Another broker object on the same directory: new ports, the same cluster.
    restarted = KafkaBroker(tmp_path / "kafka")
    try:
        restarted.start()
        consumed = consume(restarted, TOPIC, "after-restart", len(events))
    finally:
        restarted.stop()
    assert sorted(consumed, key=lambda event: event["order_id"]) == events
