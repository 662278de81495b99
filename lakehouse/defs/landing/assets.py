"""Landing-file assets, one per dataset declared in `iceberg/` with a ``landing`` source.

A run loads the files its run config names (the sensor names the new ones), or else the oldest
new files up to ``max_files``, in one Iceberg commit. What it quarantined fails the asset check
``no_quarantined_input`` with a warning: the good rows and files still land.
"""

from collections.abc import Iterator

import dagster as dg
from pyiceberg.catalog import Catalog

from lakehouse.defs.bronze import BRONZE_GROUP, bronze_key, declared_in, load_metadata
from lakehouse.defs.landing.jobs import LandingRunConfig, landing_op_name
from lakehouse.defs.landing.resources import LandingStoreResource
from lakehouse.defs.resources import IcebergCatalogResource
from lakehouse.iceberg.declarations import LandingDeclaration, landing_declarations
from lakehouse.ingest.landing.load import FileOutcome, LandingDetails, LandingIngestion
from lakehouse.ingest.landing.tracking import dataset_prefix
from lakehouse.ingest.results import LoadResult

NO_QUARANTINED_INPUT = "no_quarantined_input"


def _file_line(outcome: FileOutcome) -> str:
    if outcome.malformed:
        return f"- `{outcome.path}`: quarantined whole"
    rejected = f", {outcome.rows_rejected} rejected" if outcome.rows_rejected else ""
    return f"- `{outcome.path}`: {outcome.rows_written} row(s){rejected}"


def _materialization(
    result: LoadResult[LandingDetails], declaration: LandingDeclaration, catalog: Catalog
) -> dg.MaterializeResult:
    metadata = load_metadata(catalog, declaration.table, result) | {
        "files_ingested": len(result.details.files_ingested),
        "files_quarantined": len(result.details.files_quarantined),
        "rows_quarantined": result.rows_quarantined,
    }
    if result.details.files:
        metadata["files"] = dg.MetadataValue.md("\n".join(_file_line(f) for f in result.details.files))
    if result.details.already_taken:
        metadata["already_taken"] = ", ".join(result.details.already_taken)
    ignored = {f.path: ", ".join(f.ignored_columns) for f in result.details.files if f.ignored_columns}
    if ignored:
        metadata["ignored_columns"] = dg.MetadataValue.json(ignored)
    # The snapshot id is the data version: a run with no new files leaves it, and downstream
    # models know they are up to date.
    return dg.MaterializeResult(
        asset_key=bronze_key(declaration.table),
        metadata=metadata,
        data_version=dg.DataVersion(str(result.snapshot_id)),
    )


def _quarantine_check(result: LoadResult[LandingDetails], declaration: LandingDeclaration) -> dg.AssetCheckResult:
    reasons = result.details.quarantine_reasons
    return dg.AssetCheckResult(
        asset_key=bronze_key(declaration.table),
        check_name=NO_QUARANTINED_INPUT,
        passed=not reasons,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(result.details.files_quarantined)} file(s) quarantined whole and {result.rows_quarantined} row(s) "
            f"rejected, in {result.quarantine}"
            if reasons
            else f"all {len(result.details.files)} file(s) of this run fit the declared columns"
        ),
        metadata={
            "files_quarantined": len(result.details.files_quarantined),
            "rows_quarantined": result.rows_quarantined,
            "quarantine": dg.MetadataValue.path(result.quarantine),
            "reasons": dg.MetadataValue.json(reasons),
        },
    )


def build_landing_asset(declaration: LandingDeclaration) -> dg.AssetsDefinition:
    key = bronze_key(declaration.table)
    formats = ", ".join(declaration.landing.formats)

    spec = dg.AssetSpec(
        key=key,
        group_name=BRONZE_GROUP,
        kinds={"iceberg", "python"},
        description=f"Landing files ({formats}) under `{dataset_prefix(declaration)}`, each loaded once; "
        f"declared in {declared_in(declaration)}.",
        metadata={"dagster/table_name": f"bronze.{declaration.table}", "key": ", ".join(declaration.key)},
    )

    # A multi-asset of one, for `can_subset`: jobs that select the bronze group without its
    # checks (`bronze_extract`) can then run the load alone.
    @dg.multi_asset(
        name=landing_op_name(declaration),
        specs=[spec],
        can_subset=True,
        check_specs=[
            dg.AssetCheckSpec(
                NO_QUARANTINED_INPUT,
                asset=key,
                description="The run quarantined no file and no row (a warning: the rest still landed).",
            )
        ],
    )
    def landing_asset(
        context: dg.AssetExecutionContext,
        config: LandingRunConfig,
        iceberg: IcebergCatalogResource,
        landing: LandingStoreResource,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        catalog = iceberg.catalog()
        ingestion = LandingIngestion(catalog, landing.store(), declaration, chunk_rows=landing.chunk_rows)
        result = ingestion.run(config.files, config.max_files)
        context.log.info(
            f"{result.table}: {result.rows_written} row(s) from {len(result.details.files_ingested)} file(s), "
            f"{result.total_rows} in total"
        )
        for path, reason in result.details.quarantine_reasons.items():
            context.log.warning(f"{path} quarantined in {result.quarantine}: {reason}")
        if result.details.already_taken:
            context.log.info(f"already taken by an earlier load, left alone: {', '.join(result.details.already_taken)}")
        yield _materialization(result, declaration, catalog)
        if dg.AssetCheckKey(key, NO_QUARANTINED_INPUT) in context.selected_asset_check_keys:
            yield _quarantine_check(result, declaration)

    return landing_asset


@dg.definitions
def landing_assets() -> dg.Definitions:
    return dg.Definitions(assets=[build_landing_asset(d) for d in landing_declarations()])
