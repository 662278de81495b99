"""Every metric the exporter serves: its name, type, help text and labels, in one place.

Names follow Prometheus's conventions: the `lakehouse_` prefix, base units (seconds, bytes) in
the name, `_total` for counters. The Prometheus rules and the Grafana dashboards use only these.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric


class Kind(StrEnum):
    GAUGE = "gauge"
    COUNTER = "counter"


@dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...]

    def family(self) -> Metric:
        if self.kind is Kind.COUNTER:
            return CounterMetricFamily(self.name, self.help, labels=self.labels)
        return GaugeMetricFamily(self.name, self.help, labels=self.labels)


@dataclass(frozen=True)
class Sample:
    """One value of ``metric``; ``labels`` in the order the metric declares them."""

    metric: MetricSpec
    labels: tuple[str, ...]
    value: float


def _gauge(name: str, help: str, *labels: str) -> MetricSpec:
    return MetricSpec(name, Kind.GAUGE, help, labels)


TABLE = ("table", "layer")

TABLE_ROWS = _gauge("lakehouse_table_rows", "Rows in the table's current snapshot.", *TABLE)
TABLE_DATA_FILES = _gauge("lakehouse_table_data_files", "Data files in the table's current snapshot.", *TABLE)
TABLE_SIZE = _gauge("lakehouse_table_size_bytes", "Bytes of the current snapshot's data files.", *TABLE)
TABLE_SNAPSHOTS = _gauge("lakehouse_table_snapshots", "Snapshots the table's metadata keeps.", *TABLE)
TABLE_LAST_COMMIT = _gauge(
    "lakehouse_table_last_commit_timestamp_seconds", "When the table's current snapshot was committed.", *TABLE
)
TABLE_MAX_AGE = _gauge(
    "lakehouse_table_max_age_seconds",
    "How old the table's last commit may grow before it is stale: set for tables a schedule rebuilds.",
    *TABLE,
)
INGESTED_ROWS = MetricSpec(
    "lakehouse_ingested_rows_total",
    Kind.COUNTER,
    "Rows loaded into the bronze table, counted from its commits since the exporter started.",
    ("table",),
)
KAFKA_LAG = _gauge(
    "lakehouse_kafka_lag_messages",
    "Messages on the partition past the offset the table's last commit recorded.",
    "table",
    "topic",
    "partition",
)
KAFKA_END_OFFSET = _gauge(
    "lakehouse_kafka_end_offset", "The offset the partition's next message will get.", "topic", "partition"
)
CDC_SLOT_RETAINED = _gauge(
    "lakehouse_cdc_slot_retained_bytes",
    "Write-ahead log the change capture's replication slot keeps on the source server.",
    "slot",
)
CDC_SLOT_PENDING = _gauge(
    "lakehouse_cdc_slot_pending_bytes",
    "Log the source server wrote past the slot's position: captured changes wait there for the next run.",
    "slot",
)
LANDING_PENDING_FILES = _gauge(
    "lakehouse_landing_pending_files", "Landing files delivered and not taken yet.", "table", "dataset"
)
LANDING_PENDING_BYTES = _gauge(
    "lakehouse_landing_pending_bytes", "Bytes of the landing files not taken yet.", "table", "dataset"
)
QUARANTINED_FILES = _gauge(
    "lakehouse_quarantined_files", "Landing files moved to quarantine/ as unreadable.", "table", "dataset"
)
QUARANTINED_ROWS = _gauge(
    "lakehouse_quarantined_rows", "Rows or messages kept in the table's quarantine table.", "table"
)
DAGSTER_RUNS = _gauge("lakehouse_dagster_runs", "Runs the Dagster instance holds, by job and status.", "job", "status")
LAST_RUN_DURATION = _gauge(
    "lakehouse_dagster_job_last_run_duration_seconds", "How long the job's latest finished run took.", "job"
)
LAST_RUN_FAILED = _gauge(
    "lakehouse_dagster_job_last_run_failed", "1 when the job's latest finished run failed, else 0.", "job"
)
LAST_RUN_END = _gauge(
    "lakehouse_dagster_job_last_run_end_timestamp_seconds", "When the job's latest finished run ended.", "job"
)
ASSET_CHECK_FAILED = _gauge(
    "lakehouse_dagster_asset_check_failed", "1 when the check's latest execution failed, else 0.", "asset", "check"
)
SENSOR_TICK_FAILED = _gauge(
    "lakehouse_dagster_sensor_tick_failed", "1 when the sensor's latest tick failed, else 0.", "sensor"
)
SOURCE_UP = _gauge(
    "lakehouse_source_up", "1 when the exporter read the source this scrape, 0 when it could not.", "source"
)
SOURCE_DURATION = _gauge(
    "lakehouse_source_collect_duration_seconds", "How long reading the source took this scrape.", "source"
)

METRICS: tuple[MetricSpec, ...] = (
    TABLE_ROWS,
    TABLE_DATA_FILES,
    TABLE_SIZE,
    TABLE_SNAPSHOTS,
    TABLE_LAST_COMMIT,
    TABLE_MAX_AGE,
    INGESTED_ROWS,
    KAFKA_LAG,
    KAFKA_END_OFFSET,
    CDC_SLOT_RETAINED,
    CDC_SLOT_PENDING,
    LANDING_PENDING_FILES,
    LANDING_PENDING_BYTES,
    QUARANTINED_FILES,
    QUARANTINED_ROWS,
    DAGSTER_RUNS,
    LAST_RUN_DURATION,
    LAST_RUN_FAILED,
    LAST_RUN_END,
    ASSET_CHECK_FAILED,
    SENSOR_TICK_FAILED,
    SOURCE_UP,
    SOURCE_DURATION,
)


def families(samples: Iterable[Sample]) -> list[Metric]:
    """The samples grouped into their metrics' families, in `METRICS` order; a metric with no
    sample is left out rather than served empty."""
    grouped: dict[str, Metric] = {}
    for sample in samples:
        family = grouped.get(sample.metric.name)
        if family is None:
            family = grouped[sample.metric.name] = sample.metric.family()
        family.add_metric(list(sample.labels), sample.value)  # type: ignore[attr-defined]
    return [grouped[spec.name] for spec in METRICS if spec.name in grouped]
