"""A sensor per landing dataset: new files in the landing location become one bounded run.

A tick lists the dataset's settled files (see ``ingest/landing/tracking.py``), subtracts the
paths the bronze table's commits recorded, and requests a run of the dataset's job naming at
most ``MAX_FILES`` files and about ``MAX_RUN_BYTES`` bytes; the rest wait for later ticks. A tick
never waits on anything: a listing and a read of the table's metadata, nothing more.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import dagster as dg

from lakehouse.defs.bronze import to_gold_job_name, to_gold_sensor
from lakehouse.defs.landing.jobs import landing_run_config
from lakehouse.defs.landing.resources import LandingStoreResource
from lakehouse.defs.resources import IcebergCatalogResource
from lakehouse.defs.runs import run_in_progress
from lakehouse.iceberg.declarations import LandingDeclaration, landing_declarations
from lakehouse.ingest.landing.store import LandingFile
from lakehouse.ingest.landing.tracking import dataset_prefix, known_landing_files, pending_files
from lakehouse.settings import load_settings

MAX_FILES = 100
MAX_RUN_BYTES = 1 << 30


def next_batch(
    pending: Sequence[LandingFile], max_files: int = MAX_FILES, max_bytes: int = MAX_RUN_BYTES
) -> list[LandingFile]:
    """The first of ``pending`` within both bounds; at least one file, however large, so none waits forever."""
    batch: list[LandingFile] = []
    size = 0
    for candidate in pending[:max_files]:
        if batch and size + candidate.size > max_bytes:
            break
        batch.append(candidate)
        size += candidate.size
    return batch


def build_landing_sensor(declaration: LandingDeclaration, interval_seconds: int) -> dg.SensorDefinition:
    job_name = to_gold_job_name(declaration.table)

    @to_gold_sensor(
        declaration.table,
        f"{declaration.table}_landing_files",
        interval_seconds,
        f"Requests a run of {job_name} for new files under {dataset_prefix(declaration)} in the landing "
        f"location, {MAX_FILES} files at most per run.",
    )
    def landing_sensor(
        context: dg.SensorEvaluationContext, iceberg: IcebergCatalogResource, landing: LandingStoreResource
    ) -> dg.RunRequest | dg.SkipReason:
        if run_in_progress(context.instance, job_name):
            return dg.SkipReason(f"a run of {job_name} is in progress; its files are not known as taken yet")
        store = landing.store()
        known = known_landing_files(iceberg.catalog(), declaration)
        pending = pending_files(store, declaration, known, datetime.now(UTC), landing.settle_seconds)
        if not pending:
            return dg.SkipReason(f"no new settled files under {store.uri(dataset_prefix(declaration))}")
        batch = next_batch(pending)
        context.log.info(f"{len(pending)} new file(s); requesting a run for {len(batch)}")
        # No run key: a failed run's files must be requested again by a later tick.
        return dg.RunRequest(
            run_config=landing_run_config(declaration, [f.path for f in batch]),
            tags={"lakehouse/landing-files": str(len(batch)), "lakehouse/landing-pending": str(len(pending))},
        )

    return landing_sensor


@dg.definitions
def landing_sensors() -> dg.Definitions:
    interval = load_settings().sensor_interval_seconds
    return dg.Definitions(sensors=[build_landing_sensor(d, interval) for d in landing_declarations()])
