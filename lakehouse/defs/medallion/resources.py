"""dbt, as the medallion's models run it."""

import importlib.metadata
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource
from dagster_dbt.asset_utils import extract_runtime_selection_from_args, get_updated_cli_invocation_params_for_context
from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation
from dagster_dbt.dagster_dbt_translator import validate_opt_translator
from dagster_dbt.dbt_manifest import DbtManifestParam, validate_manifest
from packaging import version
from pydantic import Field

from lakehouse.defs.medallion.assets import DBT_EXECUTABLE, DBT_PROJECT_DIR
from lakehouse.defs.medallion.dbt_thread import DbtThread
from lakehouse.defs.resources import S3Connection, s3_connection, secret
from lakehouse.settings import Settings, load_settings
from lakehouse.trino_login import CA_BUNDLE_VARIABLES

PARTIAL_PARSE = "partial_parse.msgpack"


class LakehouseDbtCliResource(DbtCliResource):
    """dbt-core, run in this process (`dbt_thread`), handed the lakehouse's settings.

    dbt's profile and its Iceberg plugin (`lakehouse.dbt_iceberg`) read ``LAKEHOUSE_*``
    variables. Each invocation gets the settings this resource was built with, so dbt works on
    the same catalog as the assets around it whatever the process inherited.
    """

    settings: dict[str, str] = Field(description="the LAKEHOUSE_* variables dbt reads, secrets aside")
    artifacts_dir: str = Field(
        description="where each dbt invocation gets its own target directory (artifacts and dbt.log), "
        "under LAKEHOUSE_HOME rather than the checkout's dbt/target"
    )
    catalog_uri: str = Field(description="SQLAlchemy URL of the Iceberg catalog the dbt-duckdb plugin commits to")
    s3: S3Connection

    def invocation_target(self, context: dg.OpExecutionContext | dg.AssetExecutionContext | None) -> Path:
        """A new target directory for one invocation, named after its run when there is one, with
        the build-time partial parse in it, so that dbt does not parse the project again."""
        Path(self.artifacts_dir).mkdir(parents=True, exist_ok=True)
        prefix = f"{context.run_id[:8]}-" if context is not None else "dbt-"
        target = Path(tempfile.mkdtemp(prefix=prefix, dir=self.artifacts_dir))
        shutil.copy(Path(self.project_dir) / "target" / PARTIAL_PARSE, target / PARTIAL_PARSE)
        return target

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
        """`DbtCliResource.cli`, with the same selection of the context's assets and checks."""
        translator = validate_opt_translator(dagster_dbt_translator) or DagsterDbtTranslator()
        command, selects, excludes = extract_runtime_selection_from_args(args)
        params = get_updated_cli_invocation_params_for_context(
            context,
            validate_manifest(manifest) if manifest else {},
            translator,
            runtime_selects=selects,
            runtime_excludes=excludes,
        )
        target = target_path or self.invocation_target(context)
        project_dir = Path(params.dbt_project.project_dir if params.dbt_project else self.project_dir)
        indirect = ["--indirect-selection", params.indirect_selection] if params.indirect_selection else []
        locations = ["--project-dir", str(project_dir), "--profiles-dir", str(self.profiles_dir or project_dir)]
        # dagster-dbt prints the events dbt would have printed: dbt itself keeps quiet.
        arguments = [
            *command, "--quiet", *locations, "--target", str(self.target), "--target-path", str(target), "--log-path",
            str(target), *indirect, *params.selection_args,
        ]  # fmt: skip
        secrets = {
            Settings.variable_for("catalog_uri"): self.catalog_uri,
            Settings.variable_for("s3_access_key"): self.s3.access_key,
            Settings.variable_for("s3_secret_key"): self.s3.secret_key,
        }
        return DbtCliInvocation(
            process=cast(subprocess.Popen[bytes], DbtThread(arguments, self.settings | secrets)),
            manifest=params.manifest,
            dagster_dbt_translator=params.dagster_dbt_translator,
            project_dir=project_dir,
            target_path=target,
            raise_on_error=raise_on_error,
            cli_version=version.parse(importlib.metadata.version("dbt-core")),
            project=params.dbt_project,
            context=context,
        )


def dbt_trusts(settings: Settings) -> dict[str, str]:
    """dbt-trino hands its `cert` to requests, which lets REQUESTS_CA_BUNDLE win: for the duration
    of a dbt invocation, that variable names the stack's authority."""
    return dict.fromkeys(CA_BUNDLE_VARIABLES, settings.trino_ca_file) if settings.dbt_target == "trino" else {}


def dbt_cli(settings: Settings) -> LakehouseDbtCliResource:
    return LakehouseDbtCliResource(
        project_dir=str(DBT_PROJECT_DIR),
        target=settings.dbt_target,
        dbt_executable=DBT_EXECUTABLE,
        settings=settings.public_environment() | dbt_trusts(settings),
        artifacts_dir=str(settings.home / "dbt" / "target"),
        catalog_uri=secret(settings, "catalog_uri"),
        s3=s3_connection(settings),
    )


@dg.definitions
def medallion_resources() -> dg.Definitions:
    return dg.Definitions(resources={"dbt": dbt_cli(load_settings())})
