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

from pyiceberg.table import Table, Transaction
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


@dataclass(frozen=True)
class ExpiryPlan:
    doomed: frozenset[int]
    """The snapshots to expire."""
    checkpoint: dict[str, str] | None
    """The summary of the checkpoint to commit first, when the snapshots kept would lack part of
    the position without it; the checkpoint then counts as the newest snapshot kept."""


def plan_expiry(table: Table, retention: SnapshotRetention, now: datetime) -> ExpiryPlan:
    """What expiring ``table``'s snapshots by ``retention`` takes, as its metadata stands."""
    doomed = frozenset(snapshot.snapshot_id for snapshot in _expirable(table, retention, now, newer=0))
    lineage = current_lineage(table)
    whole = position(lineage)
    if not doomed or whole == position([snapshot for snapshot in lineage if snapshot.snapshot_id not in doomed]):
        return ExpiryPlan(doomed, None)
    # With a checkpoint on top, which holds the whole position, every older snapshot may go.
    doomed = frozenset(snapshot.snapshot_id for snapshot in _expirable(table, retention, now, newer=1))
    return ExpiryPlan(doomed, whole | {summary_key(CHECKPOINT): "true"})


def commit_checkpoint(transaction: Transaction, properties: dict[str, str]) -> int:
    """Append a snapshot that changes no data and records ``properties``; its id."""
    with transaction.update_snapshot(snapshot_properties=properties).fast_append():
        pass
    checkpoint = transaction.table_metadata.current_snapshot_id
    assert checkpoint is not None
    return checkpoint


def _remove_snapshots(transaction: Transaction, snapshot_ids: frozenset[int]) -> None:
    """Remove ``snapshot_ids`` from the table's metadata in ``transaction``.

    pyiceberg's ``ExpireSnapshots.by_ids`` derives the transaction's metadata again for each id,
    which is quadratic in snapshots (12 s for 300); these ids come from that same metadata, and the
    commit still leaves out every branch and tag head."""
    expiry = ExpireSnapshots(transaction)
    expiry._snapshot_ids_to_expire |= snapshot_ids
    expiry.commit()


def expire_snapshots(table: Table, retention: SnapshotRetention, now: datetime) -> Expiry:
    """Expire the snapshots ``retention`` lets go, in one commit that first records their position
    in a checkpoint when the snapshots kept would not have it. Data files are left in place: no
    longer referenced, they are removed with the orphan files once old enough."""

    def attempt() -> Expiry:
        current = table.refresh()
        plan = plan_expiry(current, retention, now)
        if not plan.doomed:
            return Expiry(0, None)
        with current.transaction() as transaction:
            checkpoint = commit_checkpoint(transaction, plan.checkpoint) if plan.checkpoint else None
            _remove_snapshots(transaction, plan.doomed)
        return Expiry(len(plan.doomed), checkpoint)

    return retry_on_conflict(attempt)
