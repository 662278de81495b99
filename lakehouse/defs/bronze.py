"""What the three bronze domains (database, landing files, Kafka events) share: asset keys, the
metadata of a load, and the job that takes one table's new input through gold."""

from collections.abc import Callable
from typing import Any

import dagster as dg
from dagster._core.definitions.metadata import RawMetadataValue
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from lakehouse.iceberg.declarations import BronzeTableDeclaration
from lakehouse.ingest.results import LoadResult

BRONZE_GROUP = "bronze"


def bronze_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["bronze", table])


def declared_in(declaration: BronzeTableDeclaration) -> str:
    """Where the table is declared, for asset descriptions."""
    return f"`iceberg/{declaration.path.name if declaration.path else declaration.table}`"


def column_schema(table: Table) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                field.name,
                str(field.field_type),
                description=field.doc,
                constraints=dg.TableColumnConstraints(nullable=not field.required),
            )
            for field in table.schema().fields
        ]
    )


def load_metadata(catalog: Catalog, table_name: str, outcome: LoadResult[Any]) -> dict[str, RawMetadataValue]:
    """A bronze load's metadata: the rows, the snapshot it committed, and the table as it is now."""
    table = catalog.load_table(("bronze", table_name))
    return {
        "rows_written": outcome.rows_written,
        "dagster/row_count": outcome.total_rows,
        "snapshot_id": str(outcome.snapshot_id),
        "table_location": dg.MetadataValue.path(table.location()),
        "partition_spec": str(table.spec()),
        "dagster/column_schema": column_schema(table),
        "seconds": round(outcome.seconds, 3),
    }


def to_gold_job_name(table: str) -> str:
    return f"{table}_to_gold"


def to_gold_sensor(
    table: str, name: str, interval_seconds: int, description: str
) -> Callable[[Callable[..., dg.RunRequest | dg.SkipReason]], dg.SensorDefinition]:
    """The decorator of a sensor that requests runs of the table's through-gold job, running from
    the start: a delivery should not wait for someone to switch its sensor on."""
    return dg.sensor(
        name=name,
        job_name=to_gold_job_name(table),
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=description,
    )


def through_gold_job(table: str, description: str) -> UnresolvedAssetJobDefinition:
    """The load of one bronze table and every model downstream of it, as one run.

    Sensors request one for each delivery. Its steps run in the run's own process: a process
    per step costs seconds of imports, which a small batch would spend waiting.
    """
    return dg.define_asset_job(
        to_gold_job_name(table),
        selection=dg.AssetSelection.assets(bronze_key(table)).downstream(),
        description=description,
        executor_def=dg.in_process_executor,
    )
