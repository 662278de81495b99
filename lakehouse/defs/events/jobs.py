"""Per Kafka topic, the job its sensor and its hourly schedule run: a bounded micro-batch into
bronze, then every model downstream of the table through gold."""

from collections.abc import Mapping

import dagster as dg
from pydantic import Field

from lakehouse.defs.bronze import bronze_key, through_gold_job
from lakehouse.iceberg.declarations import TopicDeclaration, topic_declarations
from lakehouse.ingest.events.load import MAX_WAIT_SECONDS
from lakehouse.ingest.events.offsets import MAX_RECORDS


class EventBatchConfig(dg.Config):
    """The micro-batch a run loads."""

    end_offsets: dict[str, int] | None = Field(
        default=None,
        description="per partition (as text), the offset to read up to, not included; "
        "unset: the topic's end when the run starts",
    )
    max_records: int = Field(default=MAX_RECORDS, gt=0, description="at most this many messages in the batch")
    max_wait_seconds: float = Field(
        default=MAX_WAIT_SECONDS, gt=0, description="after this long, load what was read so far and record that"
    )


def event_op_name(declaration: TopicDeclaration) -> str:
    return bronze_key(declaration.table).to_python_identifier()


def event_run_config(
    declaration: TopicDeclaration, end_offsets: Mapping[int, int], max_records: int, max_wait_seconds: float
) -> dg.RunConfig:
    """The run config of a run that loads up to ``end_offsets``."""
    batch = EventBatchConfig(
        end_offsets={str(p): o for p, o in sorted(end_offsets.items())},
        max_records=max_records,
        max_wait_seconds=max_wait_seconds,
    )
    return dg.RunConfig(ops={event_op_name(declaration): batch})


@dg.definitions
def event_jobs() -> dg.Definitions:
    return dg.Definitions(
        jobs=[
            through_gold_job(
                d.table,
                f"A micro-batch of Kafka topic `{d.topic.name}` into bronze.{d.table}, then the models "
                "downstream of it through gold.",
            )
            for d in topic_declarations()
        ]
    )
