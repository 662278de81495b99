"""Bronze assets fed by Kafka, one per topic declared in `iceberg/`.

A run loads one bounded micro-batch: from the offsets the table's last commit recorded up to the
end offsets in its run config (the sensor in `lakehouse.defs.events.sensors` puts them there), or to
the topic's current end when none are given. The batch's quarantined messages are reported by a
warning check. With Kafka off the asset still succeeds, so `medallion` runs on a laptop without it.
"""

from collections.abc import Iterator

import dagster as dg
from dagster._core.definitions.metadata import RawMetadataValue

from lakehouse.defs.bronze import (
    BRONZE_GROUP,
    bronze_key,
    declared_in,
    failed_load,
    load_metadata,
    loaded,
    loaded_check_spec,
    selected_events,
    warning_check,
)
from lakehouse.defs.events.jobs import EventBatchConfig, event_op_name
from lakehouse.defs.events.resources import KafkaResource
from lakehouse.defs.resources import IcebergCatalogResource
from lakehouse.iceberg.catalog import quarantine_name
from lakehouse.iceberg.declarations import TopicDeclaration, topic_declarations
from lakehouse.ingest.events.client import consumer_group
from lakehouse.ingest.events.load import TopicDetails, TopicIngestion
from lakehouse.ingest.events.offsets import encode_offsets
from lakehouse.ingest.results import LoadResult

QUARANTINE_CHECK = "no_quarantined_messages"


def _metadata(result: LoadResult[TopicDetails], ingestion: TopicIngestion) -> dict[str, RawMetadataValue]:
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


def _quarantine_check(result: LoadResult[TopicDetails], table: str) -> dg.AssetCheckResult:
    went = f"{result.rows_quarantined} of {result.details.messages_read} message(s) read went to {result.quarantine}"
    return warning_check(
        table,
        QUARANTINE_CHECK,
        went if result.rows_quarantined else None,
        went,
        {"quarantined": result.rows_quarantined, "quarantine_table": result.quarantine},
    )


def build_event_asset(declaration: TopicDeclaration) -> dg.AssetsDefinition:
    key = bronze_key(declaration.table)
    topic = declaration.topic.name
    spec = dg.AssetSpec(
        key=key,
        group_name=BRONZE_GROUP,
        kinds={"iceberg", "python", "kafka"},
        description=f"Kafka topic `{topic}` (JSON values), loaded in micro-batches exactly once: each commit "
        f"records the offsets it read up to. Messages that do not fit go to bronze.{quarantine_name(declaration)}. "
        f"Declared in {declared_in(declaration)}.",
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
        pool=event_op_name(declaration),
        specs=[spec],
        check_specs=[
            loaded_check_spec(declaration.table),
            dg.AssetCheckSpec(
                QUARANTINE_CHECK,
                asset=key,
                description=f"No message of the batch went to bronze.{quarantine_name(declaration)} "
                "(a warning: the good messages still landed).",
            ),
        ],
        can_subset=True,
    )
    def load_topic(
        context: dg.AssetExecutionContext,
        config: EventBatchConfig,
        iceberg: IcebergCatalogResource,
        kafka: KafkaResource,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        catalog = iceberg.catalog()
        ingestion = TopicIngestion(catalog, declaration, kafka.bootstrap_servers, log=context.log)
        end_offsets = None if config.end_offsets is None else {int(p): o for p, o in config.end_offsets.items()}
        try:
            result = ingestion.run(
                end_offsets, max_records=config.max_records, max_wait_seconds=config.max_wait_seconds
            )
        except Exception as error:
            yield from selected_events(context, failed_load(catalog, declaration.table, error, context.log))
            return
        context.log.info(
            f"{result.table}: {result.rows_written} row(s) written, {result.rows_quarantined} message(s) "
            f"quarantined, offsets {encode_offsets(result.details.offsets_before)} -> "
            f"{encode_offsets(result.details.offsets_after)}"
            + (f" ({result.skipped_reason})" if result.skipped_reason else "")
        )
        # The snapshot id is the data version: a batch that wrote nothing leaves it as it was.
        yield dg.MaterializeResult(
            asset_key=key,
            metadata=_metadata(result, ingestion),
            data_version=dg.DataVersion(str(result.snapshot_id)),
        )
        yield from selected_events(context, [loaded(declaration.table), _quarantine_check(result, declaration.table)])

    return load_topic


@dg.definitions
def event_assets() -> dg.Definitions:
    return dg.Definitions(assets=[build_event_asset(d) for d in topic_declarations()])
