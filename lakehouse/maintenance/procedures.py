"""The table procedures maintenance runs, wherever they run: the interface both engines serve."""

from datetime import datetime, timedelta
from typing import Protocol

from pyiceberg.table import Table

from lakehouse.iceberg.declarations import MaintenancePolicy, SnapshotRetention
from lakehouse.maintenance import compaction, orphans, snapshots
from lakehouse.maintenance.compaction import Compaction
from lakehouse.maintenance.orphans import OrphanRemoval
from lakehouse.maintenance.snapshots import Expiry


class TableProcedures(Protocol):
    def compact(self, table: Table, policy: MaintenancePolicy) -> Compaction: ...

    def expire_snapshots(self, table: Table, retention: SnapshotRetention, now: datetime) -> Expiry: ...

    def remove_orphan_files(self, table: Table, older_than: timedelta, now: datetime) -> OrphanRemoval: ...


class PyicebergProcedures:
    """The table procedures run in this process by pyiceberg, on `local`."""

    def compact(self, table: Table, policy: MaintenancePolicy) -> Compaction:
        return compaction.compact(table, policy)

    def expire_snapshots(self, table: Table, retention: SnapshotRetention, now: datetime) -> Expiry:
        return snapshots.expire_snapshots(table, retention, now)

    def remove_orphan_files(self, table: Table, older_than: timedelta, now: datetime) -> OrphanRemoval:
        return orphans.remove_orphan_files(table, older_than, now)
