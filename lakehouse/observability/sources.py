"""What the exporter reads, one source at a time: the catalog's tables, Kafka, the landing
location and the Dagster instance.

Each source turns what it reads into samples; the exporter (``exporter.py``) times each one and
serves the others when one fails. Kafka and the landing location need the tables' recorded
positions, so they are given the catalog's reading; they serve what they can without it.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pyiceberg.catalog.sql import SqlCatalog

from lakehouse.iceberg.catalog import QUARANTINE_SUFFIX
from lakehouse.iceberg.declarations import (
    BronzeTableDeclaration,
    LandingDeclaration,
    TableDeclaration,
    TopicDeclaration,
)
from lakehouse.ingest.database.changes import slot_status
from lakehouse.ingest.database.source import SourceDatabase
from lakehouse.ingest.events.client import TopicClient, consumer_group
from lakehouse.ingest.landing.store import LandingStore
from lakehouse.ingest.landing.tracking import REASON_SUFFIX, dataset_prefix, quarantine_path
from lakehouse.observability import metrics
from lakehouse.observability.metrics import Sample
from lakehouse.observability.tables import CatalogReader, TableState

# The nightly batch (schedule `daily_medallion`, 02:00 UTC) rebuilds the tables of database
# sources and every dbt model: a day, and two hours for the run, after the last commit they are
# stale.
SCHEDULED_MAX_AGE_SECONDS = 26 * 3600
# A scrape waits this long for a topic's end offsets: Kafka down costs a scrape one second.
KAFKA_TIMEOUT_SECONDS = 1.0

Tables = Sequence[TableState] | None


class Source(Protocol):
    name: str

    def samples(self, tables: Tables) -> list[Sample]: ...


def scheduled_tables(declarations: Sequence[BronzeTableDeclaration]) -> frozenset[str]:
    """The bronze tables the nightly batch extracts from a database."""
    return frozenset(f"bronze.{d.table}" for d in declarations if isinstance(d, TableDeclaration))


def table_samples(state: TableState, scheduled: frozenset[str]) -> list[Sample]:
    labels = (state.name, state.layer)
    samples = [
        Sample(metrics.TABLE_ROWS, labels, state.rows),
        Sample(metrics.TABLE_DATA_FILES, labels, state.data_files),
        Sample(metrics.TABLE_SIZE, labels, state.size_bytes),
        Sample(metrics.TABLE_SNAPSHOTS, labels, state.snapshots),
    ]
    if (committed := state.last_commit_seconds) is not None:
        samples.append(Sample(metrics.TABLE_LAST_COMMIT, labels, committed))
    if state.layer != "bronze" or state.name in scheduled:
        samples.append(Sample(metrics.TABLE_MAX_AGE, labels, SCHEDULED_MAX_AGE_SECONDS))
    if state.layer == "bronze" and state.name.endswith(QUARANTINE_SUFFIX):
        samples.append(Sample(metrics.QUARANTINED_ROWS, (state.name.removesuffix(QUARANTINE_SUFFIX),), state.rows))
    return samples


@dataclass
class IngestedRows:
    """A counter of the rows each bronze table's loads added, from its commits: it starts at the
    table's rows when first seen, and grows by what each later load added."""

    _seen: dict[str, tuple[int | None, float]] = field(default_factory=dict)

    def sample(self, state: TableState) -> Sample:
        snapshot = state.table.current_snapshot()
        snapshot_id = snapshot.snapshot_id if snapshot is not None else None
        if state.name not in self._seen:
            total = float(state.rows)
        else:
            last_id, total = self._seen[state.name]
            if snapshot_id != last_id:
                # None after a rollback or an expiry past the last snapshot seen: the loads in
                # between are not known, and the counter waits for the next ones.
                total += state.rows_loaded_since(last_id) or 0
        self._seen[state.name] = (snapshot_id, total)
        return Sample(metrics.INGESTED_ROWS, (state.name,), total)


@dataclass
class CatalogSource:
    # Opened on the first scrape, and again after a failed one: the exporter starts, and serves
    # the other sources, while the catalog database is down.
    open_catalog: Callable[[], SqlCatalog]
    scheduled: frozenset[str]
    name: str = "catalog"
    ingested: IngestedRows = field(default_factory=IngestedRows)
    _reader: CatalogReader | None = None

    def read(self) -> tuple[list[TableState], list[Sample]]:
        if self._reader is None:
            self._reader = CatalogReader(self.open_catalog())
        tables = self._reader.tables()
        samples = [sample for state in tables for sample in table_samples(state, self.scheduled)]
        samples += [
            self.ingested.sample(state)
            for state in tables
            if state.layer == "bronze" and not state.name.endswith(QUARANTINE_SUFFIX)
        ]
        return tables, samples


def _by_name(tables: Tables) -> dict[str, TableState]:
    return {state.name: state for state in tables or ()}


@dataclass
class KafkaSource:
    """Each declared topic's end offsets, and its lag behind the offsets its table recorded."""

    bootstrap_servers: str
    topics: Sequence[TopicDeclaration]
    name: str = "kafka"
    _clients: dict[str, TopicClient] = field(default_factory=dict)

    def _client(self, topic: str, group: str) -> TopicClient:
        # One consumer per topic for the exporter's life: connecting again every scrape costs more
        # than the offsets it asks for.
        if topic not in self._clients:
            self._clients[topic] = TopicClient(self.bootstrap_servers, topic, group)
        return self._clients[topic]

    def samples(self, tables: Tables) -> list[Sample]:
        states = _by_name(tables)
        samples = []
        for declaration in self.topics:
            topic = declaration.topic.name
            marks = self._client(topic, consumer_group(declaration)).watermarks(KAFKA_TIMEOUT_SECONDS)
            if marks is None:  # the topic does not exist yet
                continue
            state = states.get(f"bronze.{declaration.table}")
            recorded = state.kafka_offsets(topic) if state is not None else None
            for partition, end in marks.high.items():
                samples.append(Sample(metrics.KAFKA_END_OFFSET, (topic, str(partition)), end))
                if recorded is not None:
                    start = max(recorded.get(partition, marks.low[partition]), marks.low[partition])
                    lag = (f"bronze.{declaration.table}", topic, str(partition))
                    samples.append(Sample(metrics.KAFKA_LAG, lag, max(end - start, 0)))
        return samples


@dataclass
class LandingSource:
    """Each landing dataset's files not taken yet, and those moved to quarantine."""

    store: LandingStore
    datasets: Sequence[LandingDeclaration]
    name: str = "landing"

    def samples(self, tables: Tables) -> list[Sample]:
        states = _by_name(tables)
        samples = []
        for declaration in self.datasets:
            prefix = dataset_prefix(declaration)
            labels = (f"bronze.{declaration.table}", declaration.landing.dataset)
            reasons = [f for f in self.store.list(quarantine_path(prefix)) if f.path.endswith(REASON_SUFFIX)]
            samples.append(Sample(metrics.QUARANTINED_FILES, labels, len(reasons)))
            state = states.get(labels[0])
            if tables is None:
                continue
            taken = state.landing_files if state is not None else frozenset()
            pending = [listed for listed in self.store.list(prefix) if listed.path not in taken]
            samples.append(Sample(metrics.LANDING_PENDING_FILES, labels, len(pending)))
            samples.append(Sample(metrics.LANDING_PENDING_BYTES, labels, sum(listed.size for listed in pending)))
        return samples


@dataclass
class ChangeCaptureSource:
    """The change capture's replication slot on the source server: the log it keeps, and how far
    the server is past it. No sample while the slot does not exist (before the first load)."""

    source: SourceDatabase
    name: str = "cdc"

    def samples(self, tables: Tables) -> list[Sample]:
        status = slot_status(self.source)
        if status.slot is None:
            return []
        labels = (status.slot.name,)
        return [
            Sample(metrics.CDC_SLOT_RETAINED, labels, status.retained_bytes),
            Sample(metrics.CDC_SLOT_PENDING, labels, status.pending_bytes),
        ]
