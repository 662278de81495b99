"""Maintenance on `stack` through Trino's table procedures: optimize, expire_snapshots and
remove_orphan_files, run by the server next to the data.

What Trino cannot know, the lakehouse keeps. Before an expiry, the checkpoint that keeps every
load's source position is committed through pyiceberg, and Trino expires only snapshots older than
the oldest the policy keeps. After a rewrite, the snapshot it committed and the one it rewrote
must hold the same row count and checksum of every row, computed by Trino. The figures reported
(files, bytes, snapshots) are read from the table's metadata, as on `local`.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

from lakehouse.engine import quote
from lakehouse.iceberg.catalog import with_properties
from lakehouse.iceberg.commits import retry_on_conflict
from lakehouse.iceberg.declarations import MaintenancePolicy, SnapshotRetention
from lakehouse.maintenance.compaction import (
    SMALL_FRACTION,
    Compaction,
    ContentChangedError,
    FileStats,
    small_files_by_partition,
)
from lakehouse.maintenance.orphans import OrphanRemoval, gone, orphan_files, removal_of
from lakehouse.maintenance.snapshots import Expiry, ExpiryPlan, commit_checkpoint, plan_expiry
from lakehouse.trino_login import TRINO_CATALOG, TrinoLogin

# Trino expires what is older than its own clock less the threshold given: the margin keeps the
# oldest snapshot the policy keeps even when a moment passes before Trino reads its clock.
CLOCK_MARGIN = timedelta(seconds=1)
# Trino's error for a commit that another writer's beat; expire_snapshots reports the JDBC
# catalog's own conflict (Iceberg's CommitFailedException) as an internal error with this message.
COMMIT_CONFLICT = "ICEBERG_COMMIT_ERROR"
CATALOG_CONFLICT = "Failed to update table due to concurrent updates"
# Trino's floors on retention guard tables no policy governs; here the table's policy decides.
NO_MINIMUM_RETENTION = {
    f"{TRINO_CATALOG}.expire_snapshots_min_retention": "0s",
    f"{TRINO_CATALOG}.remove_orphan_files_min_retention": "0s",
}


def _milliseconds(duration: timedelta) -> str:
    return f"{max(int(duration.total_seconds() * 1000), 0)}ms"


def _trino_name(table: Table) -> str:
    namespace, name = table.name()[-2:]
    return f"{TRINO_CATALOG}.{quote(namespace)}.{quote(name)}"


def _committed_by(table: Table, query_id: str) -> Snapshot | None:
    """The snapshot Trino's query ``query_id`` committed, if it committed one."""
    return next(
        (
            snapshot
            for snapshot in table.metadata.snapshots
            if snapshot.summary is not None and snapshot.summary.additional_properties.get("trino_query_id") == query_id
        ),
        None,
    )


@dataclass(frozen=True)
class TrinoProcedures:
    """The table procedures, run by the Trino server ``login`` reaches, as its user."""

    login: TrinoLogin

    def _execute(self, sql: str, session: Mapping[str, str] | None = None) -> tuple[list[list[Any]], str]:
        """Run ``sql``; its rows and Trino's query id. A commit another writer beat raises
        `CommitFailedException`, as pyiceberg's does."""
        import trino

        try:
            return self.login.query(sql, session_properties={**NO_MINIMUM_RETENTION, **(session or {})})
        except trino.exceptions.TrinoQueryError as error:
            if error.error_name == COMMIT_CONFLICT or CATALOG_CONFLICT in (error.message or ""):
                raise CommitFailedException(error.message) from error
            raise

    def _call(self, table: Table, procedure: str, argument: str, value: str, **session: str) -> str:
        """Run the table procedure ``procedure(argument => 'value')`` on ``table``, again when a
        load committed first (the lakehouse's tables leave retries to their writers); Trino's query id."""
        sql = f"ALTER TABLE {_trino_name(table)} EXECUTE {procedure}({argument} => '{value}')"
        properties = {f"{TRINO_CATALOG}.{name}": setting for name, setting in session.items()}
        return retry_on_conflict(lambda: self._execute(sql, properties))[1]

    def fingerprint(self, table: Table, snapshot_id: int) -> tuple[int, str]:
        """The row count and Trino's order-free checksum of every row of ``table`` at ``snapshot_id``."""
        columns = ", ".join(quote(column) for column in table.schema().column_names)
        [[count, checksum]], _ = self._execute(
            f"SELECT count(*), checksum(row({columns})) FROM {_trino_name(table)} FOR VERSION AS OF {snapshot_id}"
        )
        return int(count), bytes(checksum or b"").hex()

    def check_unchanged(self, table: Table, rewritten: int, rewrite: int) -> None:
        """Raise `ContentChangedError` unless snapshot ``rewrite`` holds exactly the rows of ``rewritten``."""
        before, after = self.fingerprint(table, rewritten), self.fingerprint(table, rewrite)
        if before != after:
            name = ".".join(table.name()[-2:])
            raise ContentChangedError(
                f"{name}: Trino's compaction, snapshot {rewrite}, holds {after} (rows, checksum), not the {before} "
                f"of snapshot {rewritten} it rewrote; roll it back with `lakehouse rollback {name} {rewritten}`"
            )

    def compact(self, table: Table, policy: MaintenancePolicy) -> Compaction:
        """Trino's ``optimize`` on ``table`` once a partition has the policy's ``min_input_files``
        small files: it rewrites the table's small files into files of the target size."""
        current = table.refresh()
        tasks = list(current.scan().plan_files())
        before = FileStats.of(tasks)
        if not small_files_by_partition(tasks, policy):
            return Compaction(before, before, rewritten=0)
        small = f"{int(policy.target_file_size * SMALL_FRACTION)}B"
        target = f"{policy.target_file_size}B"
        query_id = self._call(current, "optimize", "file_size_threshold", small, target_max_file_size=target)
        rewritten = table.refresh()
        after = FileStats.of(list(rewritten.scan().plan_files()))
        rewrite = _committed_by(rewritten, query_id)
        if rewrite is None or rewrite.parent_snapshot_id is None or rewrite.summary is None:
            return Compaction(before, after, rewritten=0)
        self.check_unchanged(rewritten, rewrite.parent_snapshot_id, rewrite.snapshot_id)
        return Compaction(before, after, rewritten=int(rewrite.summary["deleted-data-files"] or 0))

    def expire_snapshots(self, table: Table, retention: SnapshotRetention, now: datetime) -> Expiry:
        """Trino's ``expire_snapshots``, of the snapshots older than every one ``retention`` keeps,
        after the checkpoint that keeps their position, if they hold part of it."""

        def checkpointed() -> tuple[ExpiryPlan, int | None]:
            current = table.refresh()
            plan = plan_expiry(current, retention, now)
            if not (plan.doomed and plan.checkpoint):
                return plan, None
            with current.transaction() as transaction:
                checkpoint = commit_checkpoint(transaction, plan.checkpoint)
            return plan, checkpoint

        plan, checkpoint = retry_on_conflict(checkpointed)
        if not plan.doomed:
            return Expiry(0, None)
        # Trino's expiry also keeps the newest snapshots the table's properties say to keep.
        snapshots = _ids(with_properties(table.refresh(), retention.table_properties).metadata.snapshots)
        oldest_kept = min(s.timestamp_ms for s in table.metadata.snapshots if s.snapshot_id not in plan.doomed)
        threshold = datetime.now(UTC) - datetime.fromtimestamp(oldest_kept / 1000, UTC) + CLOCK_MARGIN
        self._call(table, "expire_snapshots", "retention_threshold", _milliseconds(threshold))
        return Expiry(len(snapshots - _ids(table.refresh().metadata.snapshots)), checkpoint)

    def remove_orphan_files(self, table: Table, older_than: timedelta, now: datetime) -> OrphanRemoval:
        """Trino's ``remove_orphan_files``, when the table has files old enough that nothing references."""
        orphans = orphan_files(table.refresh(), older_than, now)
        if not orphans:
            return OrphanRemoval(0, 0)
        self._call(table, "remove_orphan_files", "retention_threshold", _milliseconds(older_than))
        return removal_of(gone(table, orphans))


def _ids(snapshots: Sequence[Snapshot]) -> set[int]:
    return {snapshot.snapshot_id for snapshot in snapshots}
