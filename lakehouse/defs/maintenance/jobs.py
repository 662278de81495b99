"""The nightly maintenance of every table in the catalog, each by its own policy.

Each table is compacted, its snapshots expired and its orphan files removed (`lakehouse/maintenance/`:
by pyiceberg on `local`, by Trino's table procedures on `stack`) by the policy its bronze
declaration or its dbt model's config declares, and an observation on its asset records the data
files, bytes and snapshots before and after. A load that commits meanwhile makes the maintenance
commit start again, so nothing is lost. A table that fails does not stop the others; the run
fails at the end, naming it.
"""

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from pydantic import ValidationError
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from lakehouse.defs.logs import console_logging
from lakehouse.defs.maintenance.resources import TableMaintenanceResource
from lakehouse.defs.medallion.assets import DBT_PROJECT_DIR
from lakehouse.defs.resources import IcebergCatalogResource
from lakehouse.iceberg.catalog import catalog_tables
from lakehouse.iceberg.declarations import (
    DeclarationError,
    MaintenancePolicy,
    all_declarations,
    validation_problems,
)
from lakehouse.maintenance.procedures import TableProcedures
from lakehouse.settings import load_settings


class MaintenanceError(Exception):
    """One or more tables could not be maintained."""


def model_policies(manifest: Mapping[str, Any]) -> dict[tuple[str, str], MaintenancePolicy]:
    """The policies dbt models declare in their config's ``meta: {maintenance: ...}``, by table."""
    declared = {}
    for node in manifest["nodes"].values():
        policy = node["config"].get("meta", {}).get("maintenance") if node["resource_type"] == "model" else None
        if policy is None:
            continue
        try:
            declared[(node["schema"], node["name"])] = MaintenancePolicy.model_validate(policy)
        except ValidationError as error:
            # The model's YAML (``lakehouse://models/...``) when it has one, else its SQL file.
            source = (node.get("patch_path") or node["original_file_path"]).split("://")[-1]
            where = f"dbt/{source}: {node['name']} meta.maintenance"
            raise DeclarationError(f"{where}: {validation_problems(error)}") from None
    return declared


def policies() -> dict[tuple[str, str], MaintenancePolicy]:
    """Every declared policy: bronze tables' in `iceberg/`, dbt models' in their config. A table
    without one (a quarantine, a model that declares none) takes the defaults."""
    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    bronze = {("bronze", declaration.table): declaration.maintenance for declaration in all_declarations()}
    return bronze | model_policies(manifest)


def policy_for(declared: Mapping[tuple[str, str], MaintenancePolicy], namespace: str, name: str) -> MaintenancePolicy:
    """The policy of ``namespace.name`` among those ``policies()`` returned: the defaults where it declares none."""
    return declared.get((namespace, name), MaintenancePolicy())


def maintain(table: Table, policy: MaintenancePolicy, now: datetime, procedures: TableProcedures) -> dict[str, Any]:
    """Compact, expire, remove orphans; what each did, as metadata."""
    snapshots_before = len(table.metadata.snapshots)
    compaction = procedures.compact(table, policy)
    expiry = procedures.expire_snapshots(table, policy.snapshot_retention, now)
    orphans = procedures.remove_orphan_files(table, policy.orphan_file_age, now)
    return {
        "data_files_before": compaction.before.files,
        "data_files_after": compaction.after.files,
        "data_bytes_before": compaction.before.bytes,
        "data_bytes_after": compaction.after.bytes,
        "small_files_rewritten": compaction.rewritten,
        "snapshots_before": snapshots_before,
        "snapshots_after": len(table.refresh().metadata.snapshots),
        "snapshots_expired": expiry.expired,
        "orphan_files_removed": orphans.files,
        "orphan_bytes_removed": orphans.bytes,
    }


def maintain_catalog(
    catalog: Catalog, procedures: TableProcedures, now: datetime
) -> Iterator[tuple[str, str, dict[str, Any] | Exception]]:
    """Maintain every table of ``catalog`` by its policy: per table, what was done, or the error
    that stopped it, which does not keep the others from their maintenance."""
    declared = policies()
    for namespace, name in catalog_tables(catalog):
        outcome: dict[str, Any] | Exception
        try:
            table = catalog.load_table((namespace, name))
            outcome = maintain(table, policy_for(declared, namespace, name), now, procedures)
        except Exception as error:  # one table's trouble is reported, and the next one maintained
            outcome = error
        yield namespace, name, outcome


@dg.op(pool="maintenance")
def maintain_tables(
    context: dg.OpExecutionContext, iceberg: IcebergCatalogResource, table_maintenance: TableMaintenanceResource
) -> None:
    failed: dict[str, str] = {}
    for namespace, name, outcome in maintain_catalog(
        iceberg.catalog(), table_maintenance.procedures(), datetime.now(UTC)
    ):
        if isinstance(outcome, Exception):
            failed[f"{namespace}.{name}"] = f"{type(outcome).__name__}: {outcome}"
            context.log.error(f"{namespace}.{name}: {outcome}")
            continue
        context.log_event(dg.AssetObservation(asset_key=dg.AssetKey([namespace, name]), metadata=outcome))
    if failed:
        raise MaintenanceError("; ".join(f"{table}: {problem}" for table, problem in failed.items()))


@dg.job(description="Every table: small files compacted, snapshots expired, orphan files removed, by its policy.")
def maintenance() -> None:
    maintain_tables()


@dg.definitions
def maintenance_jobs() -> dg.Definitions:
    nightly = dg.ScheduleDefinition(
        name="nightly_maintenance",
        job=maintenance,
        cron_schedule="30 3 * * *",
        run_config=console_logging(load_settings()),
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Table maintenance every night, after the batch.",
    )
    return dg.Definitions(jobs=[maintenance], schedules=[nightly])
