"""What the three bronze domains (database, landing files, Kafka events) share: asset keys, the
metadata of a load, how a failed load is reported, and the job that takes one table's new input
through gold.

A failed load does not fail its step. The table stays as it was: its materialization says so
(same data version, the error in its metadata) and its ``loaded`` check fails. The dbt step then
leaves out the models downstream of that table, and builds every other model.
"""

import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import dagster as dg
from dagster._core.definitions.metadata import RawMetadataValue
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from lakehouse.defs.logs import console_logging
from lakehouse.iceberg.declarations import BronzeTableDeclaration
from lakehouse.ingest.results import LoadResult
from lakehouse.settings import load_settings

BRONZE_GROUP = "bronze"
LOADED = "loaded"


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


def loaded_check_spec(table: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        LOADED,
        asset=bronze_key(table),
        description="The load ran to the end. When it fails, the table stays as it was and only the models "
        "downstream of it are left out of the run.",
    )


def loaded(table: str) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=bronze_key(table), check_name=LOADED, passed=True, description=f"bronze.{table} loaded"
    )


def failed_load(
    catalog: Catalog, table: str, error: Exception, log: dg.DagsterLogManager
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """What a load that raised ``error`` reports: the table as it still is, and its failed ``loaded`` check."""
    message = f"bronze.{table} was not loaded: {error}"
    log.error(message)
    try:
        snapshot = catalog.load_table(("bronze", table)).current_snapshot()
    except Exception:  # the table itself may be what failed; the error above says why
        snapshot = None
    yield dg.MaterializeResult(
        asset_key=bronze_key(table),
        metadata={"load_failed": str(error)},
        data_version=dg.DataVersion(str(snapshot.snapshot_id)) if snapshot else None,
    )
    yield dg.AssetCheckResult(
        asset_key=bronze_key(table),
        check_name=LOADED,
        passed=False,
        description=f"{message}. It stays as it was; the models downstream of it were left out of this run.",
        metadata={"error": str(error), "traceback": dg.MetadataValue.text("".join(traceback.format_exception(error)))},
    )


def warning_check(
    table: str, check_name: str, problem: str | None, fine: str, metadata: dict[str, RawMetadataValue]
) -> dg.AssetCheckResult:
    """A warning-severity check of a bronze table: it fails with ``problem`` when there is one, else passes."""
    return dg.AssetCheckResult(
        asset_key=bronze_key(table),
        check_name=check_name,
        passed=problem is None,
        severity=dg.AssetCheckSeverity.WARN,
        description=problem or fine,
        metadata=metadata,
    )


def selected_events(
    context: dg.AssetExecutionContext, events: Iterable[dg.MaterializeResult | dg.AssetCheckResult]
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """``events`` less the check results the run did not select: a job may run an asset without its checks."""
    for event in events:
        if isinstance(event, dg.AssetCheckResult):
            # Every bronze check result names its table and check.
            assert event.asset_key is not None and event.check_name is not None
            if dg.AssetCheckKey(event.asset_key, event.check_name) not in context.selected_asset_check_keys:
                continue
        yield event


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


def through_gold_job(table: str, description: str, *loaded_with: str) -> UnresolvedAssetJobDefinition:
    """The load of one bronze table (and of the tables ``loaded_with`` it) and every model
    downstream of them but the Spark models, which follow hourly, as one run.

    Sensors request one for each delivery. Its steps run in the run's own process: a process
    per step costs seconds of imports, which a small batch would spend waiting.
    """
    return dg.define_asset_job(
        to_gold_job_name(table),
        selection=dg.AssetSelection.assets(*(bronze_key(name) for name in (table, *loaded_with))).downstream()
        - dg.AssetSelection.kind("spark"),
        description=description,
        executor_def=dg.in_process_executor,
        config=console_logging(load_settings()),
    )
