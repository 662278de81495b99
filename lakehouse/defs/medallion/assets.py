"""Silver and gold: the dbt project in `dbt/` as Dagster assets.

Asset keys come from the dbt project itself: each source declares its bronze asset key in its
``meta`` (``["bronze", table]``), and each model is keyed by the schema it is configured to land
in and its name (``["silver", name]``, ``["gold", name]``), so bronze → silver → gold is one
lineage. dbt tests, source tests included, are asset checks. Each model's materialisation
carries its Iceberg row count and snapshot id, read from the catalog after dbt committed it, and
the snapshots of the tables it read: a run builds only the models whose inputs changed (`plan`).
"""

import json
import shutil
import sys
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from lakehouse.defs.bronze import LOADED
from lakehouse.defs.medallion.plan import (
    INPUTS,
    REBUILD_TAG,
    SNAPSHOT,
    BuildPlan,
    Snapshots,
    last_build,
    model_code_version,
    model_inputs,
    plan_build,
    project_macros,
    table_metadata,
    table_name,
)
from lakehouse.defs.resources import IcebergCatalogResource
from lakehouse.iceberg.catalog import current_snapshots, prepare_catalog
from lakehouse.settings import CHECKOUT_ROOT, load_settings

DBT_PROJECT_DIR = CHECKOUT_ROOT / "dbt"
# The dbt installed beside this interpreter, whether or not its virtualenv is activated.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")


class LakehouseTranslator(DagsterDbtTranslator):
    """Groups by medallion layer; silver and gold follow new bronze data as soon as it lands.

    A model's code version covers its SQL, its config and the project's macros (`plan`)."""

    def __init__(self, macros: str, settings: DagsterDbtTranslatorSettings) -> None:
        super().__init__(settings=settings)
        self.macros = macros

    def get_code_version(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] != "model":
            return super().get_code_version(dbt_resource_props)
        return model_code_version(dbt_resource_props, self.macros)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return "bronze"
        return str(dbt_resource_props["schema"])

    def get_automation_condition(self, dbt_resource_props: Mapping[str, Any]) -> dg.AutomationCondition | None:
        return dg.AutomationCondition.eager()


def dbt_project(project_dir: Path, target: str) -> DbtProject:
    # The manifest is prepared at build time (`make install`, which `make dev` runs first), not
    # here: DbtProject.prepare_if_dev would look for `dbt` on PATH, which an unactivated
    # virtualenv does not put there.
    project = DbtProject(project_dir=project_dir, profiles_dir=project_dir, target=target)
    if not project.manifest_path.exists():
        raise FileNotFoundError(
            f"dbt manifest {project.manifest_path} is missing; it is prepared at build time by `make install`"
        )
    return project


def failed_bronze_tables(context: dg.AssetExecutionContext) -> set[str]:
    """The bronze tables whose load failed earlier in this run: their ``loaded`` check did not pass."""
    records = context.instance.get_records_for_run(
        context.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, limit=10_000
    ).records
    failed = set()
    for record in records:
        evaluation = record.event_log_entry.get_dagster_event().asset_check_evaluation_data
        if evaluation.check_name == LOADED and not evaluation.passed and evaluation.asset_key.path[0] == "bronze":
            failed.add(evaluation.asset_key.path[-1])
    return failed


def build_plan(
    context: dg.AssetExecutionContext,
    manifest: Mapping[str, Any],
    keys: Mapping[str, dg.AssetKey],
    snapshots: Snapshots,
    rebuild: bool,
) -> BuildPlan:
    selected = [unique_id for unique_id, key in keys.items() if key in context.selected_asset_keys]
    blocking: dict[dg.AssetKey, list[dg.AssetCheckKey]] = {}
    for spec in context.assets_def.check_specs:
        if spec.blocking:
            blocking.setdefault(spec.asset_key, []).append(spec.key)
    return plan_build(
        manifest,
        selected,
        snapshots,
        lambda unique_id: last_build(context.instance, keys[unique_id], blocking.get(keys[unique_id], [])),
        rebuild=rebuild,
    )


def build_dbt_assets(project: DbtProject) -> dg.AssetsDefinition:
    manifest = json.loads(project.manifest_path.read_text())
    settings = DagsterDbtTranslatorSettings(enable_source_tests_as_checks=True)
    translator = LakehouseTranslator(project_macros(manifest), settings)
    models = {
        unique_id: translator.get_asset_key(node)
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] == "model"
    }
    unique_ids = {key: unique_id for unique_id, key in models.items()}
    tables = sorted({table_name(manifest, unique_id) for unique_id in [*models, *manifest["sources"]]})

    # One build at a time, across runs and processes (the instance limits every pool to 1).
    @dbt_assets(manifest=manifest, dagster_dbt_translator=translator, project=project, pool="medallion_models")
    def medallion_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, iceberg: IcebergCatalogResource
    ) -> Iterator[Any]:
        catalog = iceberg.catalog()
        # The sources dbt reads exist even before their first delivery (no landing file, no
        # Kafka message yet): they read as empty tables.
        created = prepare_catalog(catalog)
        if created:
            context.log.info(f"created the declared tables {', '.join(created)}")
        snapshots = current_snapshots(catalog, tables)
        rebuild = context.run.tags.get(REBUILD_TAG) == "true"
        plan = build_plan(context, manifest, models, snapshots, rebuild)
        if plan.unchanged:
            names = ", ".join(sorted(manifest["nodes"][unique_id]["name"] for unique_id in plan.unchanged))
            context.log.info(f"unchanged since their last build, with every table they read: {names}")
        if not plan.build:
            return
        # dbt's unit tests check the models' logic on fixed rows, not the data: they run in the
        # project's tests (`make test`), not in every run, as dbt advises for production. The
        # artifacts (manifest.json, run_results.json) are not read: the events carry the results.
        arguments = ["build", "--exclude-resource-type", "unit_test", "--no-write-json"]
        if rebuild:
            # Incremental models too are built from scratch, not from what their tables hold.
            arguments.append("--full-refresh")
        excluded = plan.dbt_exclude(manifest)
        failed = sorted(failed_bronze_tables(context))
        if failed:
            context.log.warning(f"left out, with every model downstream, because their load failed: {failed}")
            excluded += [f"source:bronze.{table}+" for table in failed]
        if excluded:
            # One argument: dbt reads the values after --exclude as one space-separated union.
            arguments += ["--exclude", " ".join(excluded)]
        invocation = dbt.cli(arguments, context=context)
        for event in invocation.stream():
            if isinstance(event, dg.Output):
                key = context.asset_key_for_output(event.output_name)
                unique_id = unique_ids[key]
                metadata = table_metadata(catalog, key)
                # What the model read: bronze as it was before dbt started; each model it reads as
                # it was built earlier in this run, or as it stood before (no other run builds it).
                read = [table_name(manifest, parent) for parent in model_inputs(manifest, unique_id)]
                inputs = {table: snapshots.get(table) for table in read}
                snapshots[table_name(manifest, unique_id)] = metadata.get(SNAPSHOT)
                event = event.with_metadata({**event.metadata, **metadata, INPUTS: dg.MetadataValue.json(inputs)})
            yield event
        # Reached only when dbt succeeded: a failed run's artifacts (its dbt.log, the compiled SQL)
        # stay under LAKEHOUSE_HOME to be looked at; a successful run's, about 5 MB, would pile up.
        shutil.rmtree(invocation.target_path)

    return medallion_models


@cache
def dbt_models(project_dir: Path, target: str) -> dg.AssetsDefinition:
    """The dbt models of the project at ``project_dir`` for ``target``, built once per process:
    the quality checks look their asset keys up in it."""
    return build_dbt_assets(dbt_project(project_dir, target))


@dg.definitions
def medallion_assets() -> dg.Definitions:
    return dg.Definitions(assets=[dbt_models(DBT_PROJECT_DIR, load_settings().dbt_target)])
