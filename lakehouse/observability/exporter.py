"""The Prometheus exporter: `lakehouse metrics serve`.

Every scrape reads each source afresh (the catalog's metadata files only where a table changed),
the catalog first, then Kafka, the landing location and the Dagster instance side by side. A
source that fails or does not answer within ``SOURCE_DEADLINE_SECONDS`` is reported by
``lakehouse_source_up{source=...} 0`` and its error is logged; the rest are served. A source still
busy from an earlier scrape is not asked again until it answers, so a hung server never piles up
threads.
"""

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, TypeVar

import dagster as dg
from prometheus_client import start_http_server
from prometheus_client.core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

from lakehouse.iceberg.catalog import catalog_for
from lakehouse.iceberg.declarations import (
    BronzeTableDeclaration,
    LandingDeclaration,
    LoadMode,
    TableDeclaration,
    TopicDeclaration,
    all_declarations,
)
from lakehouse.ingest.database.source import SourceDatabase
from lakehouse.ingest.landing.store import landing_store
from lakehouse.instance import prepare_dagster_home
from lakehouse.observability import metrics
from lakehouse.observability.metrics import Sample, families
from lakehouse.observability.orchestration import DagsterSource
from lakehouse.observability.sources import (
    CatalogSource,
    ChangeCaptureSource,
    KafkaSource,
    LandingSource,
    Source,
    Tables,
    scheduled_tables,
)
from lakehouse.settings import Settings

LOG = logging.getLogger("lakehouse.metrics")
SOURCE_DEADLINE_SECONDS = 3.0
T = TypeVar("T")


class SourceTimeout(Exception):
    """A source did not answer within the deadline, or is still busy with an earlier scrape."""


# Not compared by value: the registry keeps its collectors in a dict.
@dataclass(eq=False)
class LakehouseCollector(Collector):
    catalog: CatalogSource
    sources: list[Source]
    deadline_seconds: float = SOURCE_DEADLINE_SECONDS
    _pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(thread_name_prefix="metrics-source"))
    _busy: dict[str, Future[object]] = field(default_factory=dict)
    _down: set[str] = field(default_factory=set)

    def _start(self, name: str, read: Callable[[], T]) -> "Future[T] | None":
        if (earlier := self._busy.get(name)) is not None and not earlier.done():
            return None
        future = self._pool.submit(read)
        self._busy[name] = future  # type: ignore[assignment]
        return future

    def _finish(self, name: str, future: "Future[Any] | None", started: float) -> tuple[Any, list[Sample]]:
        """The source's result, or None; with its up and duration samples, its error logged once."""
        result = None
        error: Exception | None = None
        try:
            if future is None:
                raise SourceTimeout("still reading since an earlier scrape")
            result = future.result(timeout=max(started + self.deadline_seconds - time.monotonic(), 0))
        except FutureTimeout:
            error = SourceTimeout(f"no answer within {self.deadline_seconds:g} s")
        except Exception as failure:
            error = failure
        if error is None and name in self._down:
            self._down.discard(name)
            LOG.info("source %s is readable again", name)
        elif error is not None and name not in self._down:
            self._down.add(name)
            LOG.warning("source %s cannot be read: %s: %s", name, type(error).__name__, error)
        return result, [
            Sample(metrics.SOURCE_UP, (name,), float(error is None)),
            Sample(metrics.SOURCE_DURATION, (name,), time.monotonic() - started),
        ]

    def read(self) -> list[Sample]:
        started = time.monotonic()
        reading, samples = self._finish(self.catalog.name, self._start(self.catalog.name, self.catalog.read), started)
        tables: Tables = None
        if reading is not None:
            tables, table_samples = reading
            samples += table_samples
        started = time.monotonic()
        pending = [(source, self._start(source.name, _reader(source, tables))) for source in self.sources]
        for source, future in pending:
            source_samples, status = self._finish(source.name, future, started)
            samples += status if source_samples is None else [*source_samples, *status]
        return samples

    def collect(self) -> Iterator[Metric]:
        yield from families(self.read())


def _reader(source: Source, tables: Tables) -> Callable[[], list[Sample]]:
    return lambda: source.samples(tables)


def _open_instance(settings: Settings) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(prepare_dagster_home(settings)))


def lakehouse_collector(
    settings: Settings, declarations: Sequence[BronzeTableDeclaration] | None = None
) -> LakehouseCollector:
    """The collector of the lakehouse the settings name, whose bronze tables ``declarations`` (by
    default those of `iceberg/`) declare: Kafka only where a broker is set, the change capture's
    slot only where a table is captured from the source's log."""
    declared = all_declarations() if declarations is None else declarations
    datasets = [d for d in declared if isinstance(d, LandingDeclaration)]
    topics = [d for d in declared if isinstance(d, TopicDeclaration)]
    sources: list[Source] = [LandingSource(landing_store(settings), datasets)]
    if settings.kafka_bootstrap_servers:
        sources.append(KafkaSource(settings.kafka_bootstrap_servers, topics))
    kind = SourceDatabase(settings.source_url).kind
    if any(isinstance(d, TableDeclaration) and d.load_mode(kind) is LoadMode.CDC for d in declared):
        sources.append(ChangeCaptureSource(SourceDatabase(settings.source_url)))
    sources.append(DagsterSource(lambda: _open_instance(settings)))
    catalog = CatalogSource(lambda: catalog_for(settings), scheduled_tables(declared))
    return LakehouseCollector(catalog, sources)


def registry_for(collector: Collector) -> CollectorRegistry:
    # Not the process's default registry: the exporter serves the lakehouse, not its own Python.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def serve(collector: Collector, host: str, port: int, stop: threading.Event) -> None:
    """Serve ``collector``'s metrics at /metrics on ``host``:``port`` until ``stop`` is set."""
    server, thread = start_http_server(port, host, registry_for(collector))
    LOG.info("serving the lakehouse's metrics on http://%s:%d/metrics", host, port)
    stop.wait()
    server.shutdown()
    thread.join()
