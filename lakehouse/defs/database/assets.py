"""Bronze extraction assets, one per table declared in `iceberg/`.

Like Dagster's Sling and dlt integrations, the tables are the specs of one multi-asset that can
be subset: a run extracts the selected tables concurrently in one process, and each table's
checks run right after its load, on the snapshot the load committed. A table that fails to load
fails its ``loaded`` check and leaves the others, and the models that do not read it, to go on.
"""

from collections.abc import Iterator, Sequence

import dagster as dg
import sqlalchemy as sa
from pyiceberg.catalog import Catalog

from lakehouse.defs.bronze import (
    BRONZE_GROUP,
    bronze_key,
    declared_in,
    failed_load,
    load_metadata,
    loaded,
    loaded_check_spec,
    selected_events,
)
from lakehouse.defs.database.checks import CHECK_DESCRIPTIONS, CheckOutcome, check_bronze_table
from lakehouse.defs.database.resources import SourceDatabaseResource
from lakehouse.defs.resources import IcebergCatalogResource
from lakehouse.iceberg.declarations import TableDeclaration, bronze_declarations
from lakehouse.ingest.database.changes import ChangeDetails
from lakehouse.ingest.database.extract import DatabaseDetails, DatabaseLoad, extract_tables
from lakehouse.settings import load_settings


def _spec(declaration: TableDeclaration) -> dg.AssetSpec:
    mode = declaration.source.describe_load
    cursor = f" on {declaration.source.cursor}" if declaration.source.cursor else ""
    return dg.AssetSpec(
        key=bronze_key(declaration.table),
        group_name=BRONZE_GROUP,
        description=f"Source table `{declaration.source.table}`, loaded {mode}{cursor}; declared in "
        f"{declared_in(declaration)}.",
        kinds={"iceberg", "python"},
        metadata={
            "dagster/table_name": f"bronze.{declaration.table}",
            "load": mode,
            "key": ", ".join(declaration.key),
        },
    )


def _check_specs(declaration: TableDeclaration) -> list[dg.AssetCheckSpec]:
    return [loaded_check_spec(declaration.table)] + [
        dg.AssetCheckSpec(name, asset=bronze_key(declaration.table), description=description)
        for name, description in CHECK_DESCRIPTIONS.items()
    ]


def _materialization(catalog: Catalog, result: DatabaseLoad, declaration: TableDeclaration) -> dg.MaterializeResult:
    metadata = load_metadata(catalog, declaration.table, result)
    details = result.details
    if isinstance(details, ChangeDetails):
        metadata["position"] = details.position
        # The slot keeps this much of the source's log until the next run moves it on.
        metadata["slot_lag_bytes"] = details.slot_lag_bytes
        metadata["snapshot"] = details.snapshot
    elif details.cursor is not None:
        metadata["cursor"] = details.cursor
    if result.skipped_reason:
        metadata["unchanged"] = result.skipped_reason
    if isinstance(details, DatabaseDetails) and details.added_columns:
        metadata["columns_added_from_source"] = ", ".join(details.added_columns)
    # The snapshot id is the data version: a load that wrote nothing leaves it, and Dagster
    # knows downstream assets are still up to date.
    return dg.MaterializeResult(
        asset_key=bronze_key(declaration.table),
        metadata=metadata,
        data_version=dg.DataVersion(str(result.snapshot_id)),
    )


def _check_result(declaration: TableDeclaration, outcome: CheckOutcome) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=bronze_key(declaration.table),
        check_name=outcome.name,
        passed=outcome.passed,
        description=outcome.description,
        metadata=outcome.metadata,
        severity=dg.AssetCheckSeverity.WARN if outcome.warning else dg.AssetCheckSeverity.ERROR,
    )


def build_bronze_assets(declarations: Sequence[TableDeclaration]) -> dg.AssetsDefinition:
    by_key = {bronze_key(d.table): d for d in declarations}

    @dg.multi_asset(
        name="extract_northwind",
        pool="extract_northwind",
        specs=[_spec(d) for d in declarations],
        check_specs=[spec for d in declarations for spec in _check_specs(d)],
        can_subset=True,
    )
    def extract_northwind(
        context: dg.AssetExecutionContext, iceberg: IcebergCatalogResource, source_database: SourceDatabaseResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        catalog = iceberg.catalog()
        source = source_database.database()
        selected = [by_key[key] for key in context.selected_asset_keys]
        outcomes = extract_tables(
            catalog,
            source,
            selected,
            chunk_rows=source_database.chunk_rows,
            concurrency=source_database.concurrency,
        )
        for declaration, result in outcomes:
            if isinstance(result, Exception):
                yield from selected_events(context, failed_load(catalog, declaration.table, result, context.log))
                continue
            context.log.info(
                f"{result.table}: {result.rows_written} row(s) written, {result.total_rows} in total"
                + (f" ({result.skipped_reason})" if result.skipped_reason else "")
            )
            yield _materialization(catalog, result, declaration)
            checks = [_check_result(declaration, o) for o in check_bronze_table(catalog, source, declaration)]
            yield from selected_events(context, [loaded(declaration.table), *checks])

    return extract_northwind


@dg.definitions
def database_assets() -> dg.Definitions:
    declarations = bronze_declarations()
    # A load mode the source cannot do (cdc on SQLite) stops the code location here, not a run later.
    kind = sa.make_url(load_settings().source_url).get_backend_name()
    for declaration in declarations:
        declaration.load_mode(kind)
    return dg.Definitions(assets=[build_bronze_assets(declarations)])
