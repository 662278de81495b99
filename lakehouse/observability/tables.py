"""Each table's figures from its current metadata file, read again only when the catalog points
at a new one.

A scrape asks the catalog database for every table's metadata location in one query; only a
table committed since the last scrape has its metadata file read (and parsed) again. The figures
come from the current snapshot's summary, never from the data: the same cost at 10M rows as at 10.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from pyiceberg.io import load_file_io
from pyiceberg.serializers import FromInputFile
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot, ancestors_of
from sqlalchemy import select
from sqlalchemy.orm import Session

from lakehouse.iceberg import NAMESPACES
from lakehouse.iceberg.commits import current_row_count
from lakehouse.ingest.events.offsets import recorded_offsets
from lakehouse.ingest.landing.tracking import known_files

# What a snapshot's summary counts (Iceberg's spec names).
DATA_FILES = "total-data-files"
FILES_SIZE = "total-files-size"
ADDED_RECORDS = "added-records"
# Commits that bring rows in; `replace` (compaction) only rewrites them, `delete` removes them.
LOADING_OPERATIONS = frozenset({"append", "overwrite"})


def _summary_count(snapshot: Snapshot | None, key: str) -> int:
    value = snapshot.summary.get(key) if snapshot is not None and snapshot.summary is not None else None
    return int(value) if value is not None else 0


@dataclass
class TableState:
    """A table as its metadata file ``location`` describes it."""

    table: Table
    location: str

    @property
    def name(self) -> str:
        return ".".join(self.table.name())

    @property
    def layer(self) -> str:
        return self.table.name()[0]

    @property
    def rows(self) -> int:
        return current_row_count(self.table)

    @property
    def data_files(self) -> int:
        return _summary_count(self.table.current_snapshot(), DATA_FILES)

    @property
    def size_bytes(self) -> int:
        return _summary_count(self.table.current_snapshot(), FILES_SIZE)

    @property
    def snapshots(self) -> int:
        return len(self.table.metadata.snapshots)

    @property
    def last_commit_seconds(self) -> float | None:
        snapshot = self.table.current_snapshot()
        return snapshot.timestamp_ms / 1000 if snapshot is not None else None

    def kafka_offsets(self, topic: str) -> dict[int, int]:
        return recorded_offsets(self.table, topic)

    @cached_property
    def landing_files(self) -> frozenset[str]:
        # Walks every snapshot's recorded paths: cached with the state, so once per commit.
        return frozenset(known_files(self.table))

    def rows_loaded_since(self, snapshot_id: int | None) -> int | None:
        """Rows the loads after ``snapshot_id`` (None: since the table was created) added; None when
        that snapshot is no longer an ancestor of the current one (rolled back, or expired)."""
        added = 0
        for snapshot in ancestors_of(self.table.current_snapshot(), self.table.metadata):
            if snapshot.snapshot_id == snapshot_id:
                return added
            if snapshot.summary is not None and snapshot.summary.operation.value in LOADING_OPERATIONS:
                added += _summary_count(snapshot, ADDED_RECORDS)
        return added if snapshot_id is None else None


@dataclass
class CatalogReader:
    """The tables of the bronze, silver and gold namespaces, their metadata read once per commit."""

    catalog: SqlCatalog
    _states: dict[str, TableState] = field(default_factory=dict)

    def _locations(self) -> Iterator[tuple[tuple[str, str], str]]:
        query = select(IcebergTables.table_namespace, IcebergTables.table_name, IcebergTables.metadata_location).where(
            IcebergTables.catalog_name == self.catalog.name,
            IcebergTables.table_namespace.in_(NAMESPACES),
            # Views (Trino's, in a catalog shared with it) have no table metadata.
            (IcebergTables.iceberg_type == "TABLE") | IcebergTables.iceberg_type.is_(None),
        )
        with Session(self.catalog.engine) as session:
            for namespace, name, location in session.execute(query):
                if location:
                    yield (namespace, name), location

    def _read(self, identifier: tuple[str, str], location: str) -> TableState:
        io = load_file_io(self.catalog.properties, location)
        metadata = FromInputFile.table_metadata(io.new_input(location))
        return TableState(Table(identifier, metadata, location, io=io, catalog=self.catalog), location)

    def tables(self) -> list[TableState]:
        """Every table's current state, bronze first, then by name."""
        states = {}
        for identifier, location in self._locations():
            name = ".".join(identifier)
            known = self._states.get(name)
            unchanged = known is not None and known.location == location
            states[name] = known if known is not None and unchanged else self._read(identifier, location)
        self._states = states
        order = {namespace: index for index, namespace in enumerate(NAMESPACES)}
        return sorted(states.values(), key=lambda state: (order[state.layer], state.name))
