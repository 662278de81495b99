"""Bronze assets fed by Kafka, one per topic declared in `iceberg/`.

A run loads one bounded micro-batch: from the offsets the table's last commit recorded up to the
end offsets in its run config (the sensor in `lakehouse.sensors.events` puts them there), or to
the topic's current end when none are given. The batch's quarantined messages are reported by a
warning check. With Kafka off the asset still succeeds, so `medallion` runs on a laptop without it.
"""

from collections.abc import Iterator, Mapping

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition
from pydantic import Field

from lakehouse.assets.bronze import BRONZE_GROUP, bronze_key, load_metadata, through_gold_job
from lakehouse.iceberg.declarations import TopicDeclaration, topic_declarations
from lakehouse.ingest.events.client import consumer_group
from lakehouse.ingest.events.load import MAX_WAIT_SECONDS, TopicDetails, TopicIngestion, quarantine_name
from lakehouse.ingest.events.offsets import MAX_RECORDS, encode_offsets
from lakehouse.ingest.results import LoadResult
from lakehouse.resources import IcebergCatalogResource
from lakehouse.settings import Settings

QUARANTINE_CHECK = "no_quarantined_messages"


class KafkaResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The Kafka cluster the event topics are read from."""

    bootstrap_servers: str = Field(description="host:port[,host:port...]; empty when Kafka is off")


def kafka_resource(settings: Settings) -> KafkaResource:
    return KafkaResource(bootstrap_servers=settings.kafka_bootstrap_servers)


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


def event_job_name(declaration: TopicDeclaration) -> str:
    return f"{declaration.table}_to_gold"


def event_job(declaration: TopicDeclaration) -> UnresolvedAssetJobDefinition:
    """The topic's table and everything built on it, as far as gold: what the topic's sensor runs."""
    return through_gold_job(
        event_job_name(declaration),
        declaration.table,
        f"A micro-batch of Kafka topic `{declaration.topic.name}` into bronze.{declaration.table}, "
        "then the models downstream of it through gold.",
    )


def _metadata(result: LoadResult[TopicDetails], ingestion: TopicIngestion) -> dict[str, object]:
    metadata = load_metadata(ingestion.catalog, ingestion.declaration.table, result) | {
        "topic": result.details.topic,
        "messages_read": result.details.messages_read,
        "rows_quarantined": result.rows_quarantined,
        "offsets_before": encode_offsets(result.details.offsets_before),
        "offsets_after": encode_offsets(result.details.offsets_after),
        "quarantine_table": result.quarantine,
    }
    if result.skipped_reason:
        metadata["unchanged"] = result.skipped_reason
    if result.details.timed_out:
        metadata["timed_out"] = "the batch was cut short by max_wait_seconds; the rest is for the next run"
    if result.details.lost:
        metadata["messages_lost_to_retention"] = encode_offsets(result.details.lost)
    return metadata


def _quarantine_check(result: LoadResult[TopicDetails], key: dg.AssetKey) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=QUARANTINE_CHECK,
        passed=result.rows_quarantined == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{result.rows_quarantined} of {result.details.messages_read} message(s) read went to "
        f"{result.quarantine}",
        metadata={"quarantined": result.rows_quarantined, "quarantine_table": result.quarantine},
    )


def build_event_asset(declaration: TopicDeclaration) -> dg.AssetsDefinition:
    key = bronze_key(declaration.table)
    topic = declaration.topic.name
    check_key = dg.AssetCheckKey(key, QUARANTINE_CHECK)
    spec = dg.AssetSpec(
        key=key,
        group_name=BRONZE_GROUP,
        kinds={"iceberg", "python", "kafka"},
        description=f"Kafka topic `{topic}` (JSON values), loaded in micro-batches exactly once: each commit "
        f"records the offsets it read up to. Messages that do not fit go to bronze.{quarantine_name(declaration)}. "
        f"Declared in `iceberg/{declaration.path.name if declaration.path else declaration.table}`.",
        metadata={
            "dagster/table_name": f"bronze.{declaration.table}",
            "topic": topic,
            "consumer_group": consumer_group(declaration),
            "key": ", ".join(declaration.key),
        },
    )

    # A multi-asset that can be subset: a job may select the table without its check, as
    # `bronze_extract` does with the bronze group.
    @dg.multi_asset(
        name=event_op_name(declaration),
        specs=[spec],
        check_specs=[
            dg.AssetCheckSpec(
                QUARANTINE_CHECK,
                asset=key,
                description=f"No message of the batch went to bronze.{quarantine_name(declaration)} "
                "(a warning: the good messages still landed).",
            )
        ],
        can_subset=True,
    )
    def load_topic(
        context: dg.AssetExecutionContext,
        config: EventBatchConfig,
        iceberg: IcebergCatalogResource,
        kafka: KafkaResource,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:  # type: ignore[type-arg]
        ingestion = TopicIngestion(iceberg.catalog(), declaration, kafka.bootstrap_servers, log=context.log)
        end_offsets = None if config.end_offsets is None else {int(p): o for p, o in config.end_offsets.items()}
        result = ingestion.run(end_offsets, max_records=config.max_records, max_wait_seconds=config.max_wait_seconds)
        context.log.info(
            f"{result.table}: {result.rows_written} row(s) written, {result.rows_quarantined} message(s) "
            f"quarantined, offsets {encode_offsets(result.details.offsets_before)} -> "
            f"{encode_offsets(result.details.offsets_after)}"
            + (f" ({result.skipped_reason})" if result.skipped_reason else "")
        )
        # The snapshot id is the data version: a batch that wrote nothing leaves it as it was.
        yield dg.MaterializeResult(
            asset_key=key,
            metadata=_metadata(result, ingestion),  # type: ignore[arg-type]
            data_version=dg.DataVersion(str(result.snapshot_id)),
        )
        if check_key in context.selected_asset_check_keys:
            yield _quarantine_check(result, key)

    return load_topic


def event_asset_definitions(settings: Settings) -> dg.Definitions:
    declarations = topic_declarations()
    return dg.Definitions(
        assets=[build_event_asset(d) for d in declarations],
        jobs=[event_job(d) for d in declarations],
        resources={"kafka": kafka_resource(settings)},
    )
