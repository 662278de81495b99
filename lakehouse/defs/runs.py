"""What every sensor of the lakehouse asks before it requests a run."""

import dagster as dg

IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def run_in_progress(instance: dg.DagsterInstance, job_name: str) -> bool:
    """Whether a run of ``job_name`` is queued or running.

    A sensor waits for it rather than request the same input twice. Loads are exactly-once
    anyway (they read their position from the table), so this only saves the second run's work.
    """
    return bool(instance.get_run_ids(dg.RunsFilter(job_name=job_name, statuses=IN_PROGRESS), limit=1))
