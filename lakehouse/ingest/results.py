"""What a bronze load reports, whatever its source: one result type for the database, landing and Kafka loads.

The part every load has (the table, its rows, the snapshot it committed, what it quarantined) is
`LoadResult`'s own; what only one kind of source reports (a cursor, files, offsets) is its
``details``, a small type defined beside that source's load.
"""

from dataclasses import dataclass
from typing import Generic, TypeVar

from pyiceberg.table import Table

from lakehouse.iceberg.commits import current_row_count

Details = TypeVar("Details")


@dataclass(frozen=True)
class LoadResult(Generic[Details]):
    table: str
    """The bronze table loaded, as ``bronze.<name>``."""
    details: Details
    """What only this kind of source reports."""
    rows_written: int
    total_rows: int
    """The table's rows after the load."""
    snapshot_id: int | None
    """The table's current snapshot after the load: the one it committed, or the one before if it wrote nothing."""
    location: str
    seconds: float
    skipped_reason: str | None = None
    """Why the load wrote nothing, when it had no reason to."""
    rows_quarantined: int = 0
    """Rows (messages, file rows) that did not fit the declared columns and went to the quarantine."""
    quarantine: str = ""
    """Where quarantined input goes: a table or a landing location; empty for a source that quarantines nothing."""


def load_result(
    name: str,
    table: Table,
    details: Details,
    seconds: float,
    *,
    rows_written: int = 0,
    skipped_reason: str | None = None,
    rows_quarantined: int = 0,
    quarantine: str = "",
) -> LoadResult[Details]:
    """The result of a load into ``table``, with the table's rows and snapshot as ``table`` knows them now."""
    snapshot = table.current_snapshot()
    return LoadResult(
        table=name,
        details=details,
        rows_written=rows_written,
        total_rows=current_row_count(table),
        snapshot_id=snapshot.snapshot_id if snapshot else None,
        location=table.location(),
        seconds=seconds,
        skipped_reason=skipped_reason,
        rows_quarantined=rows_quarantined,
        quarantine=quarantine,
    )
