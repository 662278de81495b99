"""Landing-file assets, one per dataset declared in `iceberg/` with a ``landing`` source.

A run loads the files its run config names (the sensor names the new ones), or else the oldest
new files up to ``max_files``, in one Iceberg commit. What it quarantined fails the asset check
``no_quarantined_input`` with a warning: the good rows and files still land.
"""

from collections.abc import Iterator, Sequence

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition
from pydantic import Field
from pyiceberg.catalog import Catalog

from lakehouse.assets.bronze import BRONZE_GROUP, bronze_key, load_metadata, through_gold_job
from lakehouse.iceberg.declarations import LandingDeclaration, landing_declarations
from lakehouse.ingest.landing.load import (
    DEFAULT_CHUNK_ROWS,
    DEFAULT_MAX_FILES,
    FileOutcome,
    LandingDetails,
    LandingIngestion,
)
from lakehouse.ingest.landing.store import REGION, LandingStore, open_landing_store
from lakehouse.ingest.landing.tracking import dataset_prefix
from lakehouse.ingest.results import LoadResult
from lakehouse.resources import IcebergCatalogResource
from lakehouse.settings import Settings

NO_QUARANTINED_INPUT = "no_quarantined_input"


class LandingStoreResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The landing location partners deliver files to: a directory or an S3 bucket."""

    location: str = Field(description="file:///directory or s3://bucket/prefix")
    s3_endpoint: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_region: str = REGION
    chunk_rows: int = Field(default=DEFAULT_CHUNK_ROWS, description="rows per Parquet data file; bounds load memory")

    def store(self) -> LandingStore:
        return open_landing_store(
            self.location, self.s3_endpoint, self.s3_access_key, self.s3_secret_key, self.s3_region
        )


def landing_resource(settings: Settings) -> LandingStoreResource:
    return LandingStoreResource(
        location=settings.landing,
        s3_endpoint=settings.s3_endpoint,
        s3_access_key=settings.s3_access_key,
        s3_secret_key=settings.s3_secret_key,
        s3_region=settings.s3_region,
    )


class LandingRunConfig(dg.Config):
    files: list[str] = Field(
        default_factory=list,
        description="landing paths relative to the landing location; empty: the oldest new files, up to max_files",
    )
    max_files: int = Field(default=DEFAULT_MAX_FILES, gt=0, description="files a run takes when none are named")


def landing_job_name(declaration: LandingDeclaration) -> str:
    return f"{declaration.table}_to_gold"


def landing_op_name(declaration: LandingDeclaration) -> str:
    return f"land_{declaration.table}"


def landing_run_config(declaration: LandingDeclaration, files: Sequence[str]) -> dg.RunConfig:
    """Run config for the dataset's job that loads exactly ``files``."""
    return dg.RunConfig(ops={landing_op_name(declaration): LandingRunConfig(files=list(files))})


def _file_line(outcome: FileOutcome) -> str:
    if outcome.malformed:
        return f"- `{outcome.path}`: quarantined whole"
    rejected = f", {outcome.rows_rejected} rejected" if outcome.rows_rejected else ""
    return f"- `{outcome.path}`: {outcome.rows_written} row(s){rejected}"


def _materialization(
    result: LoadResult[LandingDetails], declaration: LandingDeclaration, catalog: Catalog
) -> dg.MaterializeResult:  # type: ignore[type-arg]
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
        metadata=metadata,  # type: ignore[arg-type]
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
        f"declared in `iceberg/{declaration.path.name if declaration.path else declaration.table}`.",
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
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:  # type: ignore[type-arg]
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


def landing_job(declaration: LandingDeclaration) -> UnresolvedAssetJobDefinition:
    """The dataset's files into bronze, then every model downstream of it through to gold."""
    return through_gold_job(
        landing_job_name(declaration),
        declaration.table,
        f"New landing files into bronze.{declaration.table}, then the models downstream.",
    )


def landing_asset_definitions(settings: Settings) -> dg.Definitions:
    declarations = landing_declarations()
    return dg.Definitions(
        assets=[build_landing_asset(d) for d in declarations],
        jobs=[landing_job(d) for d in declarations],
        resources={"landing": landing_resource(settings)},
    )
