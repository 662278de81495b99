"""Bronze extraction assets, one per table declared in `iceberg/`.

Like Dagster's Sling and dlt integrations, the tables are the specs of one multi-asset that can
be subset: a run extracts the selected tables concurrently in one process, and each table's
checks run right after its load, on the snapshot the load committed.
"""

from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from lakehouse.checks.bronze import CHECK_DESCRIPTIONS, CheckOutcome, check_bronze_table
from lakehouse.iceberg.declarations import TableDeclaration, bronze_declarations
from lakehouse.ingest.database.extract import DatabaseDetails, extract_tables
from lakehouse.ingest.results import LoadResult
from lakehouse.resources import IcebergCatalogResource, SourceDatabaseResource

BRONZE_GROUP = "bronze"


def bronze_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["bronze", table])


def _spec(declaration: TableDeclaration) -> dg.AssetSpec:
    mode = declaration.source.load.value
    cursor = f" on {declaration.source.cursor}" if declaration.source.cursor else ""
    return dg.AssetSpec(
        key=bronze_key(declaration.table),
        group_name=BRONZE_GROUP,
        description=f"Source table `{declaration.source.table}`, loaded {mode}{cursor}; declared in "
        f"`iceberg/{declaration.path.name if declaration.path else declaration.table}`.",
        kinds={"iceberg", "python"},
        metadata={
            "dagster/table_name": f"bronze.{declaration.table}",
            "load": mode,
            "key": ", ".join(declaration.key),
        },
    )


def _check_specs(declaration: TableDeclaration) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(name, asset=bronze_key(declaration.table), description=description)
        for name, description in CHECK_DESCRIPTIONS.items()
    ]


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


def load_metadata(catalog: Catalog, table_name: str, outcome: LoadResult[Any]) -> dict[str, object]:
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


def _materialization(
    catalog: Catalog, result: LoadResult[DatabaseDetails], declaration: TableDeclaration
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    metadata = load_metadata(catalog, declaration.table, result)
    if result.details.cursor is not None:
        metadata["cursor"] = result.details.cursor
    if result.skipped_reason:
        metadata["unchanged"] = result.skipped_reason
    if result.details.added_columns:
        metadata["columns_added_from_source"] = ", ".join(result.details.added_columns)
    # The snapshot id is the data version: a load that wrote nothing leaves it, and Dagster
    # knows downstream assets are still up to date.
    return dg.MaterializeResult(
        asset_key=bronze_key(declaration.table),
        metadata=metadata,  # type: ignore[arg-type]
        data_version=dg.DataVersion(str(result.snapshot_id)),
    )


def _check_result(declaration: TableDeclaration, outcome: CheckOutcome) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=bronze_key(declaration.table),
        check_name=outcome.name,
        passed=outcome.passed,
        description=outcome.description,
        metadata=outcome.metadata,  # type: ignore[arg-type]
    )


def through_gold_job(name: str, table: str, description: str) -> UnresolvedAssetJobDefinition:
    """The load of one bronze table and every model downstream of it, as one run.

    Sensors request one for each delivery. Its steps run in the run's own process: a process
    per step costs seconds of imports, which a small batch would spend waiting.
    """
    return dg.define_asset_job(
        name,
        selection=dg.AssetSelection.assets(bronze_key(table)).downstream(),
        description=description,
        executor_def=dg.in_process_executor,
    )


def bronze_selection(declarations: Sequence[TableDeclaration]) -> dg.AssetSelection:
    """The database tables with the checks their extraction runs; dbt's source tests run with dbt."""
    checks = [dg.AssetCheckKey(bronze_key(d.table), name) for d in declarations for name in CHECK_DESCRIPTIONS]
    tables = dg.AssetSelection.assets(*(bronze_key(d.table) for d in declarations))
    return tables.without_checks() | dg.AssetSelection.checks(*checks)


def build_bronze_assets(declarations: Sequence[TableDeclaration]) -> dg.AssetsDefinition:
    by_key = {bronze_key(d.table): d for d in declarations}

    @dg.multi_asset(
        name="extract_northwind",
        specs=[_spec(d) for d in declarations],
        check_specs=[spec for d in declarations for spec in _check_specs(d)],
        can_subset=True,
    )
    def extract_northwind(
        context: dg.AssetExecutionContext, iceberg: IcebergCatalogResource, source_database: SourceDatabaseResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:  # type: ignore[type-arg]
        catalog = iceberg.catalog()
        source = source_database.database()
        selected = [by_key[key] for key in context.selected_asset_keys]
        failures: list[str] = []
        outcomes = extract_tables(
            catalog,
            source,
            selected,
            chunk_rows=source_database.chunk_rows,
            concurrency=source_database.concurrency,
        )
        for declaration, result in outcomes:
            table = f"bronze.{declaration.table}"
            if isinstance(result, Exception):
                context.log.error(f"{table}: {result}")
                failures.append(f"{table}: {result}")
                continue
            context.log.info(
                f"{table}: {result.rows_written} row(s) written, {result.total_rows} in total"
                + (f" ({result.skipped_reason})" if result.skipped_reason else "")
            )
            yield _materialization(catalog, result, declaration)
            for outcome in check_bronze_table(catalog, source, declaration):
                check = _check_result(declaration, outcome)
                if dg.AssetCheckKey(check.asset_key, outcome.name) in context.selected_asset_check_keys:
                    yield check
        if failures:
            raise dg.Failure(
                description=f"{len(failures)} bronze table(s) failed to load; the others were committed",
                metadata={"errors": "\n".join(failures)},
            )

    return extract_northwind


def bronze_definitions() -> dg.Definitions:
    return dg.Definitions(assets=[build_bronze_assets(bronze_declarations())])
