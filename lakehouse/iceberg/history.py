"""A table's history: each snapshot, what it did, and the source position it recorded."""

from dataclasses import dataclass
from datetime import UTC, datetime

from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot, ancestors_of

from lakehouse.iceberg.commits import SUMMARY_PREFIX


@dataclass(frozen=True)
class SnapshotEntry:
    snapshot_id: int
    parent_id: int | None
    committed_at: datetime
    operation: str | None
    added_rows: int
    removed_rows: int
    total_rows: int | None
    # Whether the table's current state descends from it: a rollback leaves later snapshots outside.
    in_current_lineage: bool
    # What the commit recorded under `lakehouse.`: the source position a re-run resumes from.
    position: dict[str, str]


def _count(snapshot: Snapshot, key: str) -> int | None:
    value = snapshot.summary.get(key) if snapshot.summary is not None else None
    return int(value) if value is not None else None


def snapshot_history(table: Table) -> list[SnapshotEntry]:
    """Every snapshot the table's metadata holds, oldest first."""
    lineage = {snapshot.snapshot_id for snapshot in ancestors_of(table.current_snapshot(), table.metadata)}
    entries = []
    for snapshot in sorted(table.metadata.snapshots, key=lambda snapshot: snapshot.timestamp_ms):
        properties = snapshot.summary.additional_properties if snapshot.summary is not None else {}
        entries.append(
            SnapshotEntry(
                snapshot_id=snapshot.snapshot_id,
                parent_id=snapshot.parent_snapshot_id,
                committed_at=datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC),
                operation=snapshot.summary.operation.value if snapshot.summary is not None else None,
                added_rows=_count(snapshot, "added-records") or 0,
                removed_rows=_count(snapshot, "deleted-records") or 0,
                total_rows=_count(snapshot, "total-records"),
                in_current_lineage=snapshot.snapshot_id in lineage,
                position={
                    key.removeprefix(SUMMARY_PREFIX): value
                    for key, value in properties.items()
                    if key.startswith(SUMMARY_PREFIX)
                },
            )
        )
    return entries


class NoSuchSnapshotError(Exception):
    """A table has no snapshot with the id asked for, or none at the time asked for."""


def snapshot_as_of(table: Table, as_of: str) -> int:
    """The id of the table's snapshot ``as_of`` names: a snapshot id, or an ISO 8601 time (UTC unless
    it says otherwise), for which the latest snapshot of the current lineage committed by then."""
    name = ".".join(table.name())
    if as_of.isdigit():
        if table.snapshot_by_id(int(as_of)) is None:
            raise NoSuchSnapshotError(f"{name} has no snapshot {as_of}; `lakehouse history {name}` lists them")
        return int(as_of)
    try:
        moment = datetime.fromisoformat(as_of)
    except ValueError:
        raise NoSuchSnapshotError(
            f"--as-of {as_of!r} is neither a snapshot id nor an ISO 8601 time such as 2026-12-01T09:30:00Z"
        ) from None
    limit = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000
    for snapshot in ancestors_of(table.current_snapshot(), table.metadata):
        if snapshot.timestamp_ms <= limit:
            return snapshot.snapshot_id
    raise NoSuchSnapshotError(f"{name} has no snapshot committed at or before {as_of}")
