"""Snapshot expiry that keeps every load's source position.

A load records its source position in its commit's summary (``lakehouse.*``), and a re-run reads
it back from the table's history: the latest value of a cursor or of Kafka offsets, and the union
of the landing files every commit took. Expiring snapshots removes that history, so before it
expires anything, maintenance commits a checkpoint: a snapshot that changes no data and records
the whole position as it stood, the latest value of each property and the union of the landing
files. Everything the next load needs is then in a snapshot that expiry keeps.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot, ancestors_of
from pyiceberg.table.update.snapshot import ExpireSnapshots

from lakehouse.iceberg.commits import SUMMARY_PREFIX, retry_on_conflict, summary_key
from lakehouse.iceberg.declarations import SnapshotRetention
from lakehouse.ingest.landing.tracking import LANDING_FILE_VERSIONS, LANDING_FILES

# Marks a checkpoint's summary, for whoever reads the table's history.
CHECKPOINT = "checkpoint"


@dataclass(frozen=True)
class Expiry:
    expired: int
    checkpoint: int | None
    """The checkpoint snapshot committed first, if the expired snapshots held part of the position."""


def _properties(snapshot: Snapshot) -> dict[str, str]:
    summary = snapshot.summary.additional_properties if snapshot.summary is not None else {}
    return {key: value for key, value in summary.items() if key.startswith(SUMMARY_PREFIX)}


def _gathered(key: str) -> Callable[[str, str], str] | None:
    """How the values of ``key`` in successive commits add up, for properties each commit records
    for itself alone; None for those whose latest value is the whole position."""
    if key == summary_key(LANDING_FILES):
        return lambda earlier, later: json.dumps(sorted(set(json.loads(earlier)) | set(json.loads(later))))
    if key == summary_key(LANDING_FILE_VERSIONS):
        # The version a path was first taken with is the one kept (``tracking.taken_files``).
        return lambda earlier, later: json.dumps(json.loads(later) | json.loads(earlier), sort_keys=True)
    return None


def current_lineage(table: Table) -> list[Snapshot]:
    """The snapshots the table's current state descends from, oldest first."""
    return list(reversed(list(ancestors_of(table.current_snapshot(), table.metadata))))


def position(snapshots: list[Snapshot]) -> dict[str, str]:
    """The position ``snapshots`` (oldest first) record together, as one commit would record it."""
    gathered: dict[str, str] = {}
    for snapshot in snapshots:
        for key, value in _properties(snapshot).items():
            if key == summary_key(CHECKPOINT):
                continue
            combine = _gathered(key)
            gathered[key] = combine(gathered[key], value) if combine and key in gathered else value
    return gathered


def _expirable(table: Table, retention: SnapshotRetention, now: datetime, newer: int) -> list[Snapshot]:
    """The snapshots the retention lets go: older than the age limit, and not among the newest
    ``keep_last`` of the table's current lineage once ``newer`` snapshots are added on top of it."""
    lineage = list(ancestors_of(table.current_snapshot(), table.metadata))
    kept = {snapshot.snapshot_id for snapshot in lineage[: max(retention.keep_last - newer, 0)]}
    limit = (now - retention.max_age).timestamp() * 1000
    return [s for s in table.metadata.snapshots if s.timestamp_ms < limit and s.snapshot_id not in kept]


def expire_snapshots(table: Table, retention: SnapshotRetention, now: datetime) -> Expiry:
    """Expire the snapshots ``retention`` lets go, in one commit that first records their position
    in a checkpoint (which counts as the newest snapshot kept) when the snapshots kept would not
    have it. Data files are left in place: no longer referenced, they are removed with the orphan
    files once old enough."""

    def attempt() -> Expiry:
        current = table.refresh()
        if not _expirable(current, retention, now, newer=0):
            return Expiry(0, None)
        lineage = current_lineage(current)
        whole = position(lineage)
        # With a checkpoint on top, which holds the whole position, every older snapshot may go.
        doomed_ids = {snapshot.snapshot_id for snapshot in _expirable(current, retention, now, newer=1)}
        needs_checkpoint = bool(whole) and whole != position([s for s in lineage if s.snapshot_id not in doomed_ids])
        if not needs_checkpoint:
            doomed_ids = {snapshot.snapshot_id for snapshot in _expirable(current, retention, now, newer=0)}
        checkpoint: int | None = None
        with current.transaction() as transaction:
            if needs_checkpoint:
                properties = whole | {summary_key(CHECKPOINT): "true"}
                with transaction.update_snapshot(snapshot_properties=properties).fast_append():
                    pass
                checkpoint = transaction.table_metadata.current_snapshot_id
            ExpireSnapshots(transaction).by_ids(sorted(doomed_ids)).commit()
        return Expiry(len(doomed_ids), checkpoint)

    return retry_on_conflict(attempt)
