"""dbt, as the medallion's models run it."""

import importlib.metadata
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource
from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation
from dagster_dbt.dbt_manifest import DbtManifestParam
from packaging import version
from pydantic import Field

from lakehouse.defs.medallion.assets import DBT_EXECUTABLE, DBT_PROJECT_DIR
from lakehouse.defs.resources import S3Connection, s3_connection, secret
from lakehouse.settings import Settings, load_settings

# dagster-dbt starts dbt with a copy of this process's environment, taken as the process starts.
_ENVIRONMENT_LOCK = threading.Lock()


@contextmanager
def _variables(values: Mapping[str, str]) -> Iterator[None]:
    with _ENVIRONMENT_LOCK:
        before = {name: os.environ.get(name) for name in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for name, value in before.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


class LakehouseDbtCliResource(DbtCliResource):
    """dbt-core installed beside this interpreter, handed the lakehouse's settings.

    dbt's profile and its Iceberg plugin (`lakehouse.dbt_iceberg`) read ``LAKEHOUSE_*``
    variables. Each invocation gets the settings this resource was built with, so dbt works on
    the same catalog as the assets around it whatever the process inherited.

    dagster-dbt also starts `dbt --version` before every invocation to learn which engine it
    drives; that process imports every installed adapter and costs seconds per run. Here the
    answer is the version of the dbt-core package in this environment.
    """

    settings: dict[str, str] = Field(description="the LAKEHOUSE_* variables dbt reads, secrets aside")
    artifacts_dir: str = Field(
        description="where each dbt invocation gets its own target directory (artifacts and dbt.log), "
        "under LAKEHOUSE_HOME rather than the checkout's dbt/target"
    )
    catalog_uri: str = Field(description="SQLAlchemy URL of the Iceberg catalog the dbt-duckdb plugin commits to")
    s3: S3Connection

    def invocation_target(self, context: dg.OpExecutionContext | dg.AssetExecutionContext | None) -> Path:
        """A new target directory for one invocation, named after its run when there is one.

        dagster-dbt still copies the build-time `dbt/target/partial_parse.msgpack` into it, so dbt
        does not parse the project again.
        """
        Path(self.artifacts_dir).mkdir(parents=True, exist_ok=True)
        prefix = f"{context.run_id[:8]}-" if context is not None else "dbt-"
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.artifacts_dir))

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def cli(
        self,
        args: Sequence[str],
        *,
        raise_on_error: bool = True,
        manifest: DbtManifestParam | None = None,
        dagster_dbt_translator: DagsterDbtTranslator | None = None,
        context: dg.OpExecutionContext | dg.AssetExecutionContext | None = None,
        target_path: Path | None = None,
    ) -> DbtCliInvocation:
        secrets = {
            Settings.variable_for("catalog_uri"): self.catalog_uri,
            Settings.variable_for("s3_access_key"): self.s3.access_key,
            Settings.variable_for("s3_secret_key"): self.s3.secret_key,
        }
        with _variables(self.settings | secrets):
            return super().cli(
                args,
                raise_on_error=raise_on_error,
                manifest=manifest,
                dagster_dbt_translator=dagster_dbt_translator,
                context=context,
                target_path=target_path or self.invocation_target(context),
            )


def dbt_cli(settings: Settings) -> LakehouseDbtCliResource:
    return LakehouseDbtCliResource(
        project_dir=str(DBT_PROJECT_DIR),
        target=settings.dbt_target,
        dbt_executable=DBT_EXECUTABLE,
        settings=settings.public_environment(),
        artifacts_dir=str(settings.home / "dbt" / "target"),
        catalog_uri=secret(settings, "catalog_uri"),
        s3=s3_connection(settings),
    )


@dg.definitions
def medallion_resources() -> dg.Definitions:
    return dg.Definitions(resources={"dbt": dbt_cli(load_settings())})
