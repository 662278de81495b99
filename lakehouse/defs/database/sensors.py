"""The sensor that turns changes in the source's log into bounded runs through gold.

A tick reads the capture slot's position and the server's (two catalog reads) and, when the
server is ahead, decodes the log between them up to the first change to a captured table,
consuming nothing. A change requests a run of the captured tables and every model downstream;
each run reads up to the server's position at its start. Log that holds no captured change
still requests a run once it reaches ``ADVANCE_BYTES``: the run moves the slot on, so the server
recycles that log and the next tick's decode stays short.
"""

from collections.abc import Sequence

import dagster as dg

from lakehouse.defs.bronze import to_gold_job_name, to_gold_sensor
from lakehouse.defs.database.resources import SourceDatabaseResource
from lakehouse.defs.runs import run_in_progress
from lakehouse.iceberg.declarations import TableDeclaration
from lakehouse.ingest.database.changes import has_pending_changes, replication_name, slot_status

ADVANCE_BYTES = 16 * 2**20  # one WAL segment


def build_change_sensor(captured: Sequence[TableDeclaration], interval_seconds: int) -> dg.SensorDefinition:
    first = captured[0].table
    job_name = to_gold_job_name(first)
    tables = ", ".join(f"bronze.{d.table}" for d in captured)

    @to_gold_sensor(
        first,
        "source_change_log",
        interval_seconds,
        f"Requests a run of {tables} and every model downstream when the source's change log holds "
        "a change to one of them.",
    )
    def source_change_log(
        context: dg.SensorEvaluationContext, source_database: SourceDatabaseResource
    ) -> dg.RunRequest | dg.SkipReason:
        if run_in_progress(context.instance, job_name):
            return dg.SkipReason(f"a run of {job_name} is in progress")
        source = source_database.database()
        status = slot_status(source)
        if status.slot is None:
            return dg.SkipReason(
                f"no replication slot {replication_name(source)} yet: the first load of {tables} "
                "(a run of this job, or the medallion's) creates it with the snapshot"
            )
        if status.pending_bytes == 0:
            return dg.SkipReason(f"{tables} hold every change the source's log has")
        tags = {"lakehouse/cdc-pending-bytes": str(status.pending_bytes)}
        if has_pending_changes(source, status):
            return dg.RunRequest(tags=tags)
        if status.pending_bytes >= ADVANCE_BYTES:
            return dg.RunRequest(tags={**tags, "lakehouse/cdc-reason": "advance the slot past log with no change"})
        return dg.SkipReason(f"{status.pending_bytes} bytes of log since the slot's position, none for {tables}")

    return source_change_log
