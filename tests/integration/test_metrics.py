"""The exporter on the `local` profile: its figures are the tables' own, landing files pending and
quarantined, the Dagster instance's runs and checks, a source down while the rest are served, and
the HTTP endpoint Prometheus scrapes."""

import threading
import time
import urllib.request
from collections.abc import Iterator

import dagster as dg
import pytest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from pyiceberg.catalog.sql import SqlCatalog

from lakehouse.iceberg.catalog import catalog_for, catalog_tables
from lakehouse.ingest.database.source import SourceDatabase
from lakehouse.ingest.landing.load import LandingIngestion
from lakehouse.ingest.landing.store import landing_store
from lakehouse.observability import metrics
from lakehouse.observability.exporter import LakehouseCollector, lakehouse_collector
from lakehouse.observability.metrics import METRICS, Kind, Sample
from lakehouse.observability.sources import SCHEDULED_MAX_AGE_SECONDS
from lakehouse.settings import Settings
from lakehouse_dev.generators.marketplace_files import deliver_sample_files
from lakehouse_dev.services.process import free_port
from tests.integration.test_landing import DECLARATION
from tests.medallion import BuiltLakehouse, materialize_medallion
from tests.observability import READY_TIMEOUT_S, of, serving, values


def test_every_metric_follows_prometheus_naming() -> None:
    for spec in METRICS:
        assert spec.name.startswith("lakehouse_"), spec.name
        assert spec.name.endswith("_total") == (spec.kind is Kind.COUNTER), spec.name
        assert not any(unit in spec.name for unit in ("_ms", "_milliseconds", "_kb", "_mb")), spec.name


def test_table_figures_are_the_tables_own(classic_lakehouse: BuiltLakehouse) -> None:
    settings = classic_lakehouse.settings
    read = values(lakehouse_collector(settings).read())
    catalog = catalog_for(settings)

    identifiers = catalog_tables(catalog)
    assert {labels[0] for labels in of(read, metrics.TABLE_ROWS)} == {".".join(i) for i in identifiers}
    for identifier in identifiers:
        table = catalog.load_table(identifier)
        labels = (".".join(identifier), identifier[0])
        assert of(read, metrics.TABLE_SNAPSHOTS)[labels] == len(table.metadata.snapshots), labels
        snapshot = table.current_snapshot()
        if snapshot is None:  # declared, never loaded
            assert of(read, metrics.TABLE_ROWS)[labels] == of(read, metrics.TABLE_DATA_FILES)[labels] == 0, labels
            continue
        files = [task.file for task in table.scan().plan_files()]
        scanned = sum(batch.num_rows for batch in table.scan().to_arrow_batch_reader())
        assert of(read, metrics.TABLE_ROWS)[labels] == scanned, labels
        assert of(read, metrics.TABLE_DATA_FILES)[labels] == len(files), labels
        assert of(read, metrics.TABLE_SIZE)[labels] == sum(file.file_size_in_bytes for file in files), labels
        assert of(read, metrics.TABLE_LAST_COMMIT)[labels] == snapshot.timestamp_ms / 1000, labels
    max_age = of(read, metrics.TABLE_MAX_AGE)
    assert max_age[("gold.sales_kpis", "gold")] == max_age[("bronze.orders", "bronze")] == SCHEDULED_MAX_AGE_SECONDS
    # Files and messages arrive when partners send them: no commit for a day is no fault of theirs.
    assert ("bronze.marketplace_orders", "bronze") not in max_age
    assert ("bronze.sales_events", "bronze") not in max_age
    assert of(read, metrics.QUARANTINED_ROWS)[("bronze.orders",)] == 0
    assert of(read, metrics.SOURCE_UP) == {("catalog",): 1, ("landing",): 1, ("dagster",): 1}


def test_landing_files_pending_then_ingested_and_quarantined(settings: Settings, catalog: SqlCatalog) -> None:
    collector = lakehouse_collector(settings)
    labels = ("bronze.marketplace_orders", "marketplace_orders")
    before = values(collector.read())
    store = landing_store(settings)
    delivered = deliver_sample_files(store, files=3, rows=40, file_format="csv", seed=21)
    store.write("marketplace_orders/broken.parquet", b"PAR1 this is not a parquet file")

    pending = values(collector.read())
    LandingIngestion(catalog, store, DECLARATION, chunk_rows=1_000).run([])
    after = values(collector.read())

    assert of(pending, metrics.LANDING_PENDING_FILES)[labels] == len(delivered) + 1
    sizes = sum(store.stat(path).size for path in [*delivered, "marketplace_orders/broken.parquet"])
    assert of(pending, metrics.LANDING_PENDING_BYTES)[labels] == sizes
    assert of(after, metrics.LANDING_PENDING_FILES)[labels] == 0
    assert of(after, metrics.QUARANTINED_FILES)[labels] == 1
    ingested = ("bronze.marketplace_orders",)
    assert of(after, metrics.INGESTED_ROWS)[ingested] - of(before, metrics.INGESTED_ROWS)[ingested] == 120


def test_runs_and_checks_come_from_the_dagster_instance(settings: Settings, classic_source: SourceDatabase) -> None:
    @dg.asset
    def always_fails() -> None:
        raise RuntimeError("broken on purpose")

    with dg.DagsterInstance.get() as instance:
        built = materialize_medallion(settings, instance)
        failed = dg.materialize([always_fails], instance=instance, raise_on_error=False)
        [record] = instance.get_run_records(dg.RunsFilter(run_ids=[failed.run_id]))
    assert built.success and not failed.success
    read = values(lakehouse_collector(settings).read())

    job = failed.dagster_run.job_name
    assert built.dagster_run.job_name == job
    assert of(read, metrics.DAGSTER_RUNS) == {(job, "SUCCESS"): 1, (job, "FAILURE"): 1}
    assert of(read, metrics.LAST_RUN_FAILED) == {(job,): 1}
    assert record.end_time is not None and record.start_time is not None
    assert of(read, metrics.LAST_RUN_END)[(job,)] == record.end_time
    assert of(read, metrics.LAST_RUN_DURATION)[(job,)] == pytest.approx(record.end_time - record.start_time)
    evaluations = built.get_asset_check_evaluations()
    checks = of(read, metrics.ASSET_CHECK_FAILED)
    assert evaluations and len(checks) == len({(e.asset_key, e.check_name) for e in evaluations})
    for evaluation in evaluations:
        assert checks[(evaluation.asset_key.to_user_string(), evaluation.check_name)] == float(not evaluation.passed)


def test_kafka_down_is_reported_and_the_rest_is_served(settings: Settings, catalog: SqlCatalog) -> None:
    nothing_listens = Settings(home=settings.home, kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")
    collector = lakehouse_collector(nothing_listens)

    started = time.monotonic()
    read = values(collector.read())
    seconds = time.monotonic() - started

    assert of(read, metrics.SOURCE_UP) == {("catalog",): 1, ("landing",): 1, ("kafka",): 0, ("dagster",): 1}
    assert of(read, metrics.KAFKA_LAG) == {}
    assert of(read, metrics.TABLE_ROWS)[("bronze.sales_events", "bronze")] == 0
    assert seconds < 10, "a broker that does not answer must not hold the scrape up"


def test_a_busy_source_is_not_asked_again_until_it_answers(settings: Settings, catalog: SqlCatalog) -> None:
    release = threading.Event()
    calls: list[int] = []

    class Hung:
        name = "hung"

        def samples(self, tables: object) -> list[Sample]:
            calls.append(1)
            release.wait(30)
            return []

    collector = lakehouse_collector(settings)
    hung = LakehouseCollector(collector.catalog, [Hung()], deadline_seconds=0.2)
    try:
        first, second = values(hung.read()), values(hung.read())
    finally:
        release.set()
    assert of(first, metrics.SOURCE_UP)[("hung",)] == of(second, metrics.SOURCE_UP)[("hung",)] == 0
    assert of(second, metrics.SOURCE_UP)[("catalog",)] == 1
    assert len(calls) == 1


@pytest.fixture
def endpoint(settings: Settings, catalog: SqlCatalog) -> Iterator[str]:
    with serving(lakehouse_collector(settings)) as port:
        yield f"http://127.0.0.1:{port}/metrics"


def scrape(endpoint: str) -> dict[str, Metric]:
    with urllib.request.urlopen(endpoint, timeout=10) as response:
        assert response.status == 200
        return {family.name: family for family in text_string_to_metric_families(response.read().decode())}


def sources_up(families: dict[str, Metric]) -> dict[str, float]:
    return {sample.labels["source"]: sample.value for sample in families["lakehouse_source_up"].samples}


def test_the_endpoint_serves_every_source_in_prometheus_text(endpoint: str) -> None:
    # A source slower than the deadline on its first read (the Dagster instance opening on a loaded
    # machine) is reported down until it answers; within the readiness timeout every source must.
    deadline = time.monotonic() + READY_TIMEOUT_S
    families = scrape(endpoint)
    while 0 in sources_up(families).values() and time.monotonic() < deadline:
        time.sleep(0.5)
        families = scrape(endpoint)

    assert {family.name for family in families.values()} <= {spec.name.removesuffix("_total") for spec in METRICS}
    assert sources_up(families) == {"catalog": 1, "landing": 1, "dagster": 1}
    rows = {sample.labels["table"] for sample in families["lakehouse_table_rows"].samples}
    assert "bronze.orders" in rows
