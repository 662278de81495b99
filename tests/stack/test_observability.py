"""The lakehouse watched by a real Prometheus: the exporter on the stack, Trino's and MinIO's own
metrics, the recording and alert rules, every Grafana panel's query, and Kafka going down.

The lakehouse here is a catalog of its own (its own name in the stack's catalog database), a
landing prefix, a topic and a Dagster storage database of its own, so the session's other stack
tests see none of it.
"""

import signal
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest
import sqlalchemy as sa
from botocore.exceptions import ClientError

from lakehouse.defs.events.assets import build_event_asset
from lakehouse.defs.landing.assets import NO_QUARANTINED_INPUT, build_landing_asset
from lakehouse.iceberg.catalog import catalog_for, model_table, prepare_catalog
from lakehouse.iceberg.declarations import (
    BronzeTableDeclaration,
    TopicDeclaration,
    bronze_declarations,
)
from lakehouse.ingest.landing.store import landing_store, s3_client
from lakehouse.instance import prepare_dagster_home
from lakehouse.observability import metrics
from lakehouse.observability.exporter import lakehouse_collector
from lakehouse.security.database_roles import apply_database_roles
from lakehouse.settings import Settings
from lakehouse_dev.generators.marketplace_files import deliver_sample_files
from lakehouse_dev.generators.sales_events import produce_events
from lakehouse_dev.grafana import dashboard_files, panel_queries
from lakehouse_dev.services.process import ServerProcess, free_port, log_tail
from lakehouse_dev.services.prometheus import PrometheusServer
from lakehouse_dev.services.stack import Stack
from tests.declarations import MARKETPLACE, SALES_EVENTS
from tests.observability import of, serving, values
from tests.resources import resources_for
from tests.stack.conftest import started

pytestmark = pytest.mark.stack

EVENTS, LATE_EVENTS = 200, 50
DAEMON = str(Path(sys.executable).parent / "dagster-daemon")
KAFKA_SENSOR = "sales_events_kafka_offsets"
# MinIO computes its usage figures in a background scan; the first one ends a few minutes after it starts.
PANEL_TIMEOUT_S = 300.0
SENSOR_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class Watched:
    settings: Settings
    declarations: list[BronzeTableDeclaration]
    topic: str


@pytest.fixture
def watched(running_stack: Stack) -> Watched:
    tag = uuid.uuid4().hex[:8]
    # Its own Dagster database: `lakehouse init`'s role management creates it, owned by the storage login.
    storage = sa.make_url(running_stack.settings.dagster_storage_url).set(database=f"dagster_{tag}")
    settings = running_stack.settings.model_copy(
        update={
            "catalog_name": f"observed_{tag}",
            "landing": f"s3://landing/{tag}/",
            "landing_settle_seconds": 0,
            "dagster_storage_url": storage.render_as_string(hide_password=False),
        }
    )
    apply_database_roles(settings)
    topic = f"sales-events-{tag}"
    events = SALES_EVENTS.model_copy(update={"topic": SALES_EVENTS.topic.model_copy(update={"name": topic})})
    return Watched(settings, [*bronze_declarations(), MARKETPLACE, events], topic)


def events_declaration(watched: Watched) -> TopicDeclaration:
    return next(d for d in watched.declarations if isinstance(d, TopicDeclaration))


def fill(watched: Watched) -> None:
    """The bronze assets materialised through Dagster: landing files loaded, one quarantined (its
    check fails) and one waiting; events loaded, one quarantined, some waiting. A model's table,
    and a run that failed."""
    settings, catalog = watched.settings, catalog_for(watched.settings)
    prepare_catalog(catalog)
    store = landing_store(settings)
    deliver_sample_files(store, files=2, rows=30, file_format="csv", seed=41)
    store.write("marketplace_orders/broken.parquet", b"PAR1 this is not a parquet file")
    bootstrap = settings.kafka_bootstrap_servers
    produce_events(bootstrap, watched.topic, None, EVENTS, seed=43, poison=1)
    bronze = [build_landing_asset(MARKETPLACE), build_event_asset(events_declaration(watched))]

    @dg.asset
    def broken_asset() -> None:
        raise RuntimeError("broken on purpose")

    with dg.DagsterInstance.from_config(str(prepare_dagster_home(settings))) as instance:
        assert dg.materialize(bronze, resources=resources_for(settings), instance=instance).success
        assert not dg.materialize([broken_asset], instance=instance, raise_on_error=False).success
    deliver_sample_files(store, files=1, rows=30, file_format="parquet", seed=42)
    produce_events(bootstrap, watched.topic, None, LATE_EVENTS, seed=44)
    # A model's table: silver and gold tables are stale a day after their last commit.
    model = pa.table({"order_id": pa.array([1, 2], pa.int64())})
    model_table(catalog, "silver", "observed_model", model.schema).append(model)


def minio_target(settings: Settings) -> str:
    return settings.s3_endpoint.removeprefix("http://")


@pytest.fixture
def observed(running_stack: Stack, watched: Watched, tmp_path: Path) -> Iterator[tuple[Watched, PrometheusServer]]:
    """The watched lakehouse filled, its exporter serving and a Prometheus scraping it every second,
    with Trino, MinIO and itself."""
    fill(watched)
    collector = lakehouse_collector(watched.settings, watched.declarations)
    with serving(collector) as exporter_port:
        port = free_port()
        minio = minio_target(watched.settings)
        server = PrometheusServer(
            tmp_path / "prometheus",
            {
                "lakehouse": [f"127.0.0.1:{exporter_port}"],
                "trino": [f"127.0.0.1:{watched.settings.trino_port}"],
                "minio": [minio],
                "minio-bucket": [minio],
                "prometheus": [f"127.0.0.1:{port}"],
            },
            lakehouse_home=running_stack.settings.home,
            port=port,
        )
        started(server)
        try:
            yield watched, server
        finally:
            server.stop()


def only_value(result: list[dict[str, object]]) -> float:
    [series] = result
    value = series["value"]
    assert isinstance(value, list)
    return float(value[1])


def test_prometheus_sees_the_lakehouse_as_it_is(observed: tuple[Watched, PrometheusServer]) -> None:
    watched, prometheus = observed
    table = catalog_for(watched.settings).load_table(("bronze", "marketplace_orders"))
    snapshot = table.current_snapshot()
    assert snapshot is not None
    marketplace = '{table="bronze.marketplace_orders"}'

    # The catalog, the landing location, Kafka, the change capture's slot and Dagster.
    prometheus.wait_for("count(lakehouse_source_up == 1) == 5")
    assert only_value(prometheus.query(f"lakehouse_table_rows{marketplace}")) == table.scan().to_arrow().num_rows == 60
    committed = only_value(prometheus.query(f"lakehouse_table_last_commit_timestamp_seconds{marketplace}"))
    assert committed == snapshot.timestamp_ms / 1000
    age = only_value(prometheus.wait_for(f"table:lakehouse_table_last_commit_timestamp_seconds:age{marketplace}"))
    # As of the rules' last evaluation, at most a few seconds ago.
    assert abs(age - (time.time() - committed)) < 60
    lag = f'sum(lakehouse_kafka_lag_messages{{topic="{watched.topic}"}})'
    assert only_value(prometheus.query(lag)) == LATE_EVENTS
    assert only_value(prometheus.query(f"lakehouse_landing_pending_files{marketplace}")) == 1
    assert only_value(prometheus.query(f"lakehouse_quarantined_files{marketplace}")) == 1
    assert only_value(prometheus.query('lakehouse_quarantined_rows{table="bronze.sales_events"}')) == 1
    quarantine_check = f'lakehouse_dagster_asset_check_failed{{check="{NO_QUARANTINED_INPUT}"}}'
    assert only_value(prometheus.query(quarantine_check)) == 1
    prometheus.wait_for('count(up{job=~"trino|minio|minio-bucket"} == 1) == 3')
    assert not prometheus.query("up == 0")
    assert prometheus.wait_for("trino_execution_name_QueryManager_RunningQueries")

    # More events than bronze takes in: the lag grows, and the alert on it is pending at once.
    produce_events(watched.settings.kafka_bootstrap_servers, watched.topic, None, LATE_EVENTS, seed=45)
    prometheus.wait_for(lag, lambda result: only_value(result) == 2 * LATE_EVENTS)
    assert any(
        alert["labels"]["alertname"] == "LakehouseKafkaLagGrowing" and alert["labels"]["topic"] == watched.topic
        for alert in wait_for_alerts(prometheus, "LakehouseKafkaLagGrowing")
    )


def wait_for_alerts(
    prometheus: PrometheusServer, name: str, timeout_s: float = 60.0
) -> list[dict[str, dict[str, str]]]:
    deadline = time.monotonic() + timeout_s
    while not (alerts := [a for a in prometheus.alerts() if a["labels"]["alertname"] == name]):
        assert time.monotonic() < deadline, f"no {name} alert after {timeout_s:g} s: {prometheus.alerts()}"
        time.sleep(1)
    return alerts


def test_every_dashboard_panel_query_returns_series(
    observed: tuple[Watched, PrometheusServer], running_stack: Stack, tmp_path: Path
) -> None:
    watched, prometheus = observed
    # A failed S3 request, so that MinIO's error counter exists.
    client = s3_client(watched.settings.s3_endpoint, watched.settings.s3_access_key, watched.settings.s3_secret_key)
    with pytest.raises(ClientError):
        client.head_object(Bucket="landing", Key=f"missing-{uuid.uuid4()}")
    with kafka_down(running_stack):
        prometheus.wait_for('lakehouse_source_up{source="kafka"} == 0')
        # The exporter still answers: every other source is read.
        assert len(prometheus.query('lakehouse_source_up{source!="kafka"} == 1')) == 4
        assert wait_for_alerts(prometheus, "LakehouseSourceDown")[0]["labels"]["source"] == "kafka"
        failing_sensor_tick(watched, tmp_path)
    failed = f'lakehouse_dagster_sensor_tick_failed{{sensor="{KAFKA_SENSOR}"}}'
    assert only_value(prometheus.wait_for(failed)) == 1
    # The broker back: the lag is read again, and every panel has its data.
    prometheus.wait_for('lakehouse_source_up{source="kafka"} == 1', timeout_s=60)
    queries = [query for path in dashboard_files() for query in panel_queries(path)]
    deadline = time.monotonic() + PANEL_TIMEOUT_S
    while (empty := [query for query in queries if not prometheus.query(query.expr)]) and time.monotonic() < deadline:
        queries = empty
        time.sleep(5)
    assert not empty, "\n".join(f"{q.dashboard} / {q.panel}: {q.expr}" for q in empty)


@contextmanager
def kafka_down(stack: Stack) -> Iterator[None]:
    """The stack's broker stopped for the block, and started again after it for the next tests."""
    stack.kafka.stop()
    try:
        yield
    finally:
        started(stack.kafka)


def failing_sensor_tick(watched: Watched, tmp_path: Path) -> None:
    """The Kafka sensor ticks in a real daemon while the broker is down, and its tick fails.

    The daemon's landing location is empty and nothing was materialised through Dagster, so its
    other sensors find nothing to run."""
    settings = watched.settings.model_copy(update={"landing": f"{watched.settings.landing.rstrip('/')}-empty/"})
    environment = settings.environment() | {"LAKEHOUSE_SENSOR_INTERVAL_SECONDS": "2"}
    daemon = ServerProcess.spawn(
        "dagster-daemon", [DAEMON, "run", "-m", "lakehouse.definitions"], tmp_path / "daemon.log", env=environment
    )
    daemon.stop_signal = signal.SIGINT
    collector = lakehouse_collector(watched.settings, watched.declarations)
    try:
        deadline = time.monotonic() + SENSOR_TIMEOUT_S
        while of(values(collector.read()), metrics.SENSOR_TICK_FAILED).get((KAFKA_SENSOR,)) != 1:
            assert daemon.alive() and time.monotonic() < deadline, log_tail(daemon.log_file)
            time.sleep(2)
    finally:
        daemon.stop()
