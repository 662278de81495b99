"""Per landing dataset, the job its sensor runs: the new files into bronze, then every model
downstream of the table through gold."""

from collections.abc import Sequence

import dagster as dg
from pydantic import Field

from lakehouse.defs.bronze import through_gold_job
from lakehouse.iceberg.declarations import LandingDeclaration, landing_declarations
from lakehouse.ingest.landing.load import DEFAULT_MAX_FILES


class LandingRunConfig(dg.Config):
    files: list[str] = Field(
        default_factory=list,
        description="landing paths relative to the landing location; empty: the oldest new files, up to max_files",
    )
    max_files: int = Field(default=DEFAULT_MAX_FILES, gt=0, description="files a run takes when none are named")


def landing_op_name(declaration: LandingDeclaration) -> str:
    return f"land_{declaration.table}"


def landing_run_config(declaration: LandingDeclaration, files: Sequence[str]) -> dg.RunConfig:
    """Run config for the dataset's job that loads exactly ``files``."""
    return dg.RunConfig(ops={landing_op_name(declaration): LandingRunConfig(files=list(files))})


@dg.definitions
def landing_jobs() -> dg.Definitions:
    return dg.Definitions(
        jobs=[
            through_gold_job(
                d.table,
                f"New landing files into bronze.{d.table}, then the models downstream.",
            )
            for d in landing_declarations()
        ]
    )
