"""dbt, as the medallion's models run it."""

import importlib.metadata
from functools import cached_property

import dagster as dg
from dagster_dbt import DbtCliResource
from packaging import version

from lakehouse.defs.medallion.assets import DBT_EXECUTABLE, DBT_PROJECT_DIR
from lakehouse.settings import Settings, load_settings


class LocalDbtCliResource(DbtCliResource):
    """dbt-core installed beside this interpreter.

    dagster-dbt starts `dbt --version` before every invocation to learn which engine it drives;
    that process imports every installed adapter and costs seconds per run. Here the answer is
    the version of the dbt-core package in this environment.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))


def dbt_cli(settings: Settings) -> DbtCliResource:
    return LocalDbtCliResource(
        project_dir=str(DBT_PROJECT_DIR), target=settings.dbt_target, dbt_executable=DBT_EXECUTABLE
    )


@dg.definitions
def medallion_resources() -> dg.Definitions:
    return dg.Definitions(resources={"dbt": dbt_cli(load_settings())})
