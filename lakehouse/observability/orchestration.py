"""The Dagster instance as metrics: runs by job and status, each job's latest finished run, each
asset check's latest result, each sensor's latest tick.

Counting runs and finding each check's latest result are one grouped query each on the
instance's own SQL storage: Dagster's API would fetch every run, or ask once per job and status.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import dagster as dg
from dagster._core.scheduler.instigation import InstigatorType, TickStatus
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage
from dagster._core.storage.runs.schema import RunsTable
from dagster._core.storage.runs.sql_run_storage import SqlRunStorage
from sqlalchemy import func, select

from lakehouse.observability import metrics
from lakehouse.observability.metrics import Sample
from lakehouse.observability.sources import Tables

FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


def _sql_storage(storage: Any, kind: type) -> Any:
    if not isinstance(storage, kind):
        kind_name = type(storage).__name__
        raise TypeError(f"the exporter reads Dagster's SQL storage (SQLite or PostgreSQL); got {kind_name}")
    return storage


def run_counts(instance: dg.DagsterInstance) -> dict[tuple[str, str], int]:
    storage: SqlRunStorage = _sql_storage(instance.run_storage, SqlRunStorage)
    query = select(RunsTable.c.pipeline_name, RunsTable.c.status, func.count()).group_by(
        RunsTable.c.pipeline_name, RunsTable.c.status
    )
    with storage.connect() as connection:
        return {(str(job), str(status)): cast(int, count) for job, status, count in connection.execute(query)}


def latest_check_results(instance: dg.DagsterInstance) -> dict[tuple[dg.AssetKey, str], bool]:
    """Whether each asset check's latest finished execution failed."""
    storage: SqlEventLogStorage = _sql_storage(instance.event_log_storage, SqlEventLogStorage)
    table = AssetCheckExecutionsTable.c
    latest = (
        select(func.max(table.id).label("id"))
        .where(table.execution_status != AssetCheckExecutionRecordStatus.PLANNED.value)
        .group_by(table.asset_key, table.check_name)
        .subquery()
    )
    query = select(table.asset_key, table.check_name, table.execution_status).where(table.id.in_(select(latest.c.id)))
    with storage.index_connection() as connection:
        return {
            (dg.AssetKey.from_db_string(str(key)) or dg.AssetKey("?"), str(check)): status
            == AssetCheckExecutionRecordStatus.FAILED.value
            for key, check, status in connection.execute(query)
        }


def _job_samples(instance: dg.DagsterInstance, job: str) -> list[Sample]:
    records = instance.get_run_records(dg.RunsFilter(job_name=job, statuses=FINISHED), limit=1)
    if not records or (ended := records[0].end_time) is None:
        return []
    latest = records[0]
    samples = [
        Sample(metrics.LAST_RUN_FAILED, (job,), float(latest.dagster_run.status is dg.DagsterRunStatus.FAILURE)),
        Sample(metrics.LAST_RUN_END, (job,), ended),
    ]
    if latest.start_time is not None:
        samples.append(Sample(metrics.LAST_RUN_DURATION, (job,), ended - latest.start_time))
    return samples


def sensor_samples(instance: dg.DagsterInstance) -> list[Sample]:
    samples = []
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1)
        if ticks:
            failed = float(ticks[0].status is TickStatus.FAILURE)
            samples.append(Sample(metrics.SENSOR_TICK_FAILED, (state.instigator_name,), failed))
    return samples


@dataclass
class DagsterSource:
    # Opened on the first scrape, and again after a failed one, as the catalog is.
    open_instance: Callable[[], dg.DagsterInstance]
    name: str = "dagster"
    _instance: dg.DagsterInstance | None = None

    def samples(self, tables: Tables) -> list[Sample]:
        if self._instance is None:
            self._instance = self.open_instance()
        instance = self._instance
        counts = run_counts(instance)
        samples = [Sample(metrics.DAGSTER_RUNS, (job, status), count) for (job, status), count in counts.items()]
        for job in sorted({job for job, _ in counts}):
            samples += _job_samples(instance, job)
        samples += [
            Sample(metrics.ASSET_CHECK_FAILED, (key.to_user_string(), check), float(failed))
            for (key, check), failed in latest_check_results(instance).items()
        ]
        return samples + sensor_samples(instance)
