"""The sensor's look at a topic: what the next load would read, from cheap metadata only, within a deadline."""

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError

from lakehouse.iceberg.declarations import TopicDeclaration
from lakehouse.ingest.events.client import TopicClient, consumer_group
from lakehouse.ingest.events.offsets import MAX_RECORDS, Batch, plan_batch, recorded_offsets

# A sensor tick must end within 5 s even with the broker down.
SENSOR_DEADLINE_SECONDS = 3.0


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
