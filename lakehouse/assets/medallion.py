"""Silver and gold: the dbt project in `dbt/` as Dagster assets.

dbt sources map to the bronze assets (``["bronze", table]``) and models to ``[schema, name]``
(``silver``/``gold``), so bronze → silver → gold is one lineage. dbt tests, source tests
included, are asset checks. Each model's materialisation carries its Iceberg row count and
snapshot id, read from the catalog after dbt committed it.
"""

import importlib.metadata
import sys
from collections.abc import Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)
from packaging import version
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError

from lakehouse.iceberg.commits import current_row_count
from lakehouse.resources import IcebergCatalogResource
from lakehouse.settings import CHECKOUT_ROOT, Settings

DBT_PROJECT_DIR = CHECKOUT_ROOT / "dbt"
# The dbt installed beside this interpreter, whether or not its virtualenv is activated.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")


class LakehouseTranslator(DagsterDbtTranslator):
    """Sources are the bronze tables; models are named by the medallion schema they land in."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey(["bronze", dbt_resource_props["name"]])
        return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return "bronze"
        return str(dbt_resource_props["schema"])

    def get_automation_condition(self, dbt_resource_props: Mapping[str, Any]) -> dg.AutomationCondition | None:
        # Silver and gold follow new bronze data as soon as it lands.
        return dg.AutomationCondition.eager()


class LocalDbtCliResource(DbtCliResource):
    """dbt-core installed beside this interpreter.

    dagster-dbt starts `dbt --version` before every invocation to learn which engine it drives;
    that process imports every installed adapter and costs seconds per run. Here the answer is
    the version of the dbt-core package in this environment.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))


def dbt_cli(settings: Settings, project: DbtProject) -> DbtCliResource:
    return LocalDbtCliResource(project_dir=project, target=settings.dbt_target, dbt_executable=DBT_EXECUTABLE)


def dbt_project(settings: Settings) -> DbtProject:
    # The manifest is prepared at build time (`make install`, which `make dev` runs first), not
    # here: DbtProject.prepare_if_dev would look for `dbt` on PATH, which an unactivated
    # virtualenv does not put there.
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target=settings.dbt_target)
    if not project.manifest_path.exists():
        raise FileNotFoundError(
            f"dbt manifest {project.manifest_path} is missing; it is prepared at build time by `make install`"
        )
    return project


def _iceberg_metadata(catalog: Catalog, key: dg.AssetKey) -> dict[str, Any]:
    try:
        table = catalog.load_table((key.path[0], key.path[-1]))
    except NoSuchTableError:
        return {}
    snapshot = table.current_snapshot()
    if snapshot is None or snapshot.summary is None:
        return {}
    return {
        "dagster/row_count": current_row_count(table),
        "snapshot_id": str(snapshot.snapshot_id),
        "table_location": dg.MetadataValue.path(table.location()),
    }


def build_dbt_assets(project: DbtProject) -> dg.AssetsDefinition:
    translator = LakehouseTranslator(settings=DagsterDbtTranslatorSettings(enable_source_tests_as_checks=True))

    @dbt_assets(manifest=project.manifest_path, dagster_dbt_translator=translator, project=project)
    def medallion_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, iceberg: IcebergCatalogResource
    ) -> Iterator[Any]:
        catalog = iceberg.catalog()
        for event in dbt.cli(["build"], context=context).stream():
            if isinstance(event, dg.Output):
                key = context.asset_key_for_output(event.output_name)
                event = event.with_metadata({**event.metadata, **_iceberg_metadata(catalog, key)})
            yield event

    return medallion_models


def medallion_definitions(settings: Settings) -> dg.Definitions:
    project = dbt_project(settings)
    return dg.Definitions(
        assets=[build_dbt_assets(project)],
        resources={"dbt": dbt_cli(settings, project)},
    )
