"""Sensors that turn new Kafka messages into bounded micro-batch runs, one per declared topic.

A tick compares the topic's end offsets with the offsets the bronze table's last commit recorded
and, when there is something new, requests one run of the topic's job with explicit end offsets,
at most ``max_records`` messages in all. It never consumes: its Kafka calls share a deadline of
``SENSOR_DEADLINE_SECONDS``, so with the broker down a tick fails, naming the broker, within 5 s.
"""

import dagster as dg

from lakehouse.defs.bronze import to_gold_job_name, to_gold_sensor
from lakehouse.defs.events.jobs import event_run_config
from lakehouse.defs.events.resources import KafkaResource
from lakehouse.defs.resources import IcebergCatalogResource
from lakehouse.defs.runs import run_in_progress
from lakehouse.iceberg.declarations import TopicDeclaration, topic_declarations
from lakehouse.ingest.events.load import KAFKA_OFF, MAX_WAIT_SECONDS
from lakehouse.ingest.events.offsets import MAX_RECORDS
from lakehouse.ingest.events.probe import next_batch
from lakehouse.settings import load_settings


def build_event_sensor(
    declaration: TopicDeclaration, interval_seconds: int, max_records: int = MAX_RECORDS
) -> dg.SensorDefinition:
    job_name = to_gold_job_name(declaration.table)
    topic = declaration.topic.name

    @to_gold_sensor(
        declaration.table,
        f"{declaration.table}_kafka_offsets",
        interval_seconds,
        f"Requests a micro-batch of topic `{topic}` when its end offsets pass those recorded in "
        f"bronze.{declaration.table}.",
    )
    def kafka_offsets(
        context: dg.SensorEvaluationContext, iceberg: IcebergCatalogResource, kafka: KafkaResource
    ) -> dg.RunRequest | dg.SkipReason:
        if not kafka.bootstrap_servers:
            return dg.SkipReason(KAFKA_OFF)
        # Checked before the table is read: a run that ends meanwhile has committed by then.
        if run_in_progress(context.instance, job_name):
            return dg.SkipReason(f"a run of {job_name} is in progress")
        batch = next_batch(iceberg.catalog(), declaration, kafka.bootstrap_servers, max_records)
        if batch is None:
            return dg.SkipReason(f"topic {topic!r} does not exist yet")
        if batch.messages == 0:
            return dg.SkipReason(f"bronze.{declaration.table} is up to date with topic {topic!r}")
        # No run key: a failed run's batch must be requested again by a later tick.
        return dg.RunRequest(
            run_config=event_run_config(declaration, batch.end, max_records, MAX_WAIT_SECONDS),
            tags={"lakehouse/kafka-topic": topic, "lakehouse/kafka-messages": str(batch.messages)},
        )

    return kafka_offsets


@dg.definitions
def event_sensors() -> dg.Definitions:
    interval = load_settings().sensor_interval_seconds
    return dg.Definitions(sensors=[build_event_sensor(d, interval) for d in topic_declarations()])
