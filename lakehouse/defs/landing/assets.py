"""Landing-file assets, one per dataset declared in `iceberg/` with a ``landing`` source.

A run loads the files its run config names (the sensor names the new ones), or else the oldest
settled new files up to ``max_files``, in one Iceberg commit. Three checks warn without blocking
anything downstream: ``no_quarantined_input`` (the run quarantined files or rows: the good ones
still land), ``taken_files_unchanged`` (a file already taken was rewritten: its new content is not
loaded) and ``no_duplicate_keys`` (a key was delivered more than once: staging keeps the latest
delivery).
"""

import json
from collections.abc import Iterator

import dagster as dg
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

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
from lakehouse.defs.landing.jobs import LandingRunConfig, landing_op_name
from lakehouse.defs.landing.resources import LandingStoreResource
from lakehouse.defs.resources import IcebergCatalogResource
from lakehouse.iceberg.declarations import LandingDeclaration, landing_declarations
from lakehouse.ingest.landing.duplicates import duplicate_keys
from lakehouse.ingest.landing.load import FileOutcome, LandingDetails, LandingIngestion
from lakehouse.ingest.landing.store import LandingError
from lakehouse.ingest.landing.tracking import dataset_prefix
from lakehouse.ingest.results import LoadResult

NO_QUARANTINED_INPUT = "no_quarantined_input"
TAKEN_FILES_UNCHANGED = "taken_files_unchanged"
NO_DUPLICATE_KEYS = "no_duplicate_keys"


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
    metadata["files_left_pending"] = len(result.details.left_pending)
    metadata["files_still_pending"] = result.details.still_pending
    if result.details.left_pending:
        metadata["left_pending"] = dg.MetadataValue.json({f.path: f.reason for f in result.details.left_pending})
    if result.details.changed_after_taken:
        metadata["changed_after_taken"] = dg.MetadataValue.json(
            [change.describe() for change in result.details.changed_after_taken]
        )
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
    return warning_check(
        declaration.table,
        NO_QUARANTINED_INPUT,
        f"{len(result.details.files_quarantined)} file(s) quarantined whole and {result.rows_quarantined} row(s) "
        f"rejected, in {result.quarantine}"
        if reasons
        else None,
        f"all {len(result.details.files)} file(s) of this run fit the declared columns",
        {
            "files_quarantined": len(result.details.files_quarantined),
            "rows_quarantined": result.rows_quarantined,
            "quarantine": dg.MetadataValue.path(result.quarantine),
            "reasons": dg.MetadataValue.json(reasons),
        },
    )


def _changed_files_check(result: LoadResult[LandingDetails], declaration: LandingDeclaration) -> dg.AssetCheckResult:
    changes = result.details.changed_after_taken
    return warning_check(
        declaration.table,
        TAKEN_FILES_UNCHANGED,
        f"{len(changes)} file(s) changed after bronze.{declaration.table} took them; their new content was "
        "not loaded: deliver corrections under a new name"
        if changes
        else None,
        "every file taken earlier is as it was when taken",
        {"files_changed": len(changes), "changes": dg.MetadataValue.json([c.describe() for c in changes])},
    )


def _duplicates_check(table: Table, declaration: LandingDeclaration) -> dg.AssetCheckResult:
    found = duplicate_keys(table, declaration)
    key = ", ".join(declaration.key)
    return warning_check(
        declaration.table,
        NO_DUPLICATE_KEYS,
        f"{found.keys} key(s) ({key}) delivered more than once, {found.copies} extra row(s); "
        "silver keeps each key's latest delivery"
        if found.keys
        else None,
        f"every ({key}) was delivered once",
        {
            "duplicate_keys": found.keys,
            "extra_rows": found.copies,
            "examples": dg.MetadataValue.json(json.loads(json.dumps(found.examples, default=str))),
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
        pool=landing_op_name(declaration),
        specs=[spec],
        can_subset=True,
        check_specs=[
            loaded_check_spec(declaration.table),
            dg.AssetCheckSpec(
                NO_QUARANTINED_INPUT,
                asset=key,
                description="The run quarantined no file and no row (a warning: the rest still landed).",
            ),
            dg.AssetCheckSpec(
                TAKEN_FILES_UNCHANGED,
                asset=key,
                description="No file already taken was rewritten (a warning: its new content is not loaded).",
            ),
            dg.AssetCheckSpec(
                NO_DUPLICATE_KEYS,
                asset=key,
                description="No key was delivered twice (a warning: silver keeps each key's latest delivery).",
            ),
        ],
    )
    def landing_asset(
        context: dg.AssetExecutionContext,
        config: LandingRunConfig,
        iceberg: IcebergCatalogResource,
        landing: LandingStoreResource,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        catalog = iceberg.catalog()
        ingestion = LandingIngestion(
            catalog, landing.store(), declaration, chunk_rows=landing.chunk_rows, settle_seconds=landing.settle_seconds
        )
        try:
            result = ingestion.run(config.files, config.max_files)
        except LandingError:
            raise  # a run config naming files outside the dataset is the run's mistake, not the source's
        except Exception as error:
            yield from selected_events(context, failed_load(catalog, declaration.table, error, context.log))
            return
        context.log.info(
            f"{result.table}: {result.rows_written} row(s) from {len(result.details.files_ingested)} file(s), "
            f"{result.total_rows} in total"
        )
        for path, reason in result.details.quarantine_reasons.items():
            context.log.warning(f"{path} quarantined in {result.quarantine}: {reason}")
        if result.details.already_taken:
            context.log.info(f"already taken by an earlier load, left alone: {', '.join(result.details.already_taken)}")
        for left in result.details.left_pending:
            context.log.warning(f"{left.path} left pending: {left.reason}")
        for change in result.details.changed_after_taken:
            context.log.warning(change.describe())
        if result.details.still_pending:
            context.log.info(f"{result.details.still_pending} more file(s) pending for later runs")
        yield _materialization(result, declaration, catalog)
        checks = [
            loaded(declaration.table),
            _quarantine_check(result, declaration),
            _changed_files_check(result, declaration),
        ]
        yield from selected_events(context, checks)
        # Scanning the table's keys is the one check that costs: only when the run asks for it.
        if dg.AssetCheckKey(key, NO_DUPLICATE_KEYS) in context.selected_asset_check_keys:
            yield _duplicates_check(catalog.load_table(("bronze", declaration.table)), declaration)

    return landing_asset


@dg.definitions
def landing_assets() -> dg.Definitions:
    return dg.Definitions(assets=[build_landing_asset(d) for d in landing_declarations()])
