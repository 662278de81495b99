"""Maintenance: what a day of sensor loads leaves in the tables, and what the maintenance job makes of it.

A `local` lakehouse in a temporary directory, with the project's own Kafka broker, takes
`--deliveries` landing files (marketplace order lines, `--rows` each), one load per file, and
`--batches` Kafka micro-batches of `--rows` sales events, one commit each, as the sensors would.
For both bronze tables the bench reports data files, the most small files (under three quarters
of the policy's target size) left in one partition, snapshots, and the median time of a
`count(*)` and of a gold-shaped query (revenue by country over both tables) through `lakehouse
query`'s engine, a fresh one per run:

- `loaded`: as the loads left the tables;
- `maintained`: after the maintenance job's work on every table by its policy, run as the
  nightly job would a week later (so that retention lets the loads' snapshots go);
- `one commit`: the same rows loaded in one commit per table, in a lakehouse of their own.

The maintenance run's own time is reported too.

    python -m bench.maintenance [--deliveries 500] [--batches 500] [--rows 200] [--runs 5]
"""

import argparse
import shutil
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lakehouse.defs.maintenance.jobs import maintain_catalog, policies, policy_for
from lakehouse.engine import engine_for
from lakehouse.iceberg.catalog import catalog_for, prepare_catalog
from lakehouse.iceberg.declarations import landing_declarations, topic_declarations
from lakehouse.ingest.events.load import TopicIngestion
from lakehouse.ingest.landing.load import LandingIngestion
from lakehouse.ingest.landing.store import landing_store
from lakehouse.maintenance.compaction import SMALL_FRACTION
from lakehouse.maintenance.procedures import PyicebergProcedures
from lakehouse.settings import Settings
from lakehouse_dev.generators.marketplace_files import deliver_sample_files
from lakehouse_dev.generators.sales_events import produce_events
from lakehouse_dev.services.kafka import KafkaBroker

[MARKETPLACE] = [declaration for declaration in landing_declarations() if declaration.table == "marketplace_orders"]
[SALES_EVENTS] = [declaration for declaration in topic_declarations() if declaration.table == "sales_events"]
TABLES = (MARKETPLACE.table, SALES_EVENTS.table)
GOLD_SHAPED = """
SELECT country, sum(quantity * unit_price * (1 - coalesce(discount, 0))) AS revenue, count(*) AS lines
FROM (
    SELECT country, quantity, unit_price, discount FROM bronze.sales_events
    UNION ALL
    SELECT country, quantity, unit_price, discount FROM bronze.marketplace_orders
)
GROUP BY country
ORDER BY revenue DESC
"""
# As the nightly job would run a week after the loads: every policy's retention has passed.
A_WEEK_LATER = timedelta(days=8)


@dataclass(frozen=True)
class TableShape:
    data_files: int
    most_small_files_in_a_partition: int
    snapshots: int


@dataclass(frozen=True)
class State:
    tables: dict[str, TableShape]
    count_seconds: float
    gold_seconds: float


def _shape(settings: Settings, table_name: str) -> TableShape:
    table = catalog_for(settings).load_table(("bronze", table_name))
    small_below = policy_for(policies(), "bronze", table_name).target_file_size * SMALL_FRACTION
    tasks = list(table.scan().plan_files())
    small = Counter(repr(task.file.partition) for task in tasks if task.file.file_size_in_bytes < small_below)
    return TableShape(len(tasks), max(small.values(), default=0), len(table.metadata.snapshots))


def _median_seconds(settings: Settings, sql: str, runs: int) -> float:
    """The median time of ``sql`` through a fresh engine each run, as each `lakehouse query` is."""
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        engine = engine_for(settings)
        try:
            engine.query(sql)
        finally:
            engine.close()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def _state(settings: Settings, runs: int) -> State:
    counts = " UNION ALL ".join(f"SELECT count(*) FROM bronze.{table}" for table in TABLES)
    return State(
        {table: _shape(settings, table) for table in TABLES},
        _median_seconds(settings, counts, runs),
        _median_seconds(settings, GOLD_SHAPED, runs),
    )


def _load_like_the_sensors(settings: Settings, broker: KafkaBroker, deliveries: int, batches: int, rows: int) -> None:
    catalog = catalog_for(settings)
    landing = LandingIngestion(catalog, landing_store(settings), MARKETPLACE)
    started = time.perf_counter()
    for seed in range(deliveries):
        deliver_sample_files(settings, 1, rows, "csv", seed=seed)
        landing.run()
    print(f"{deliveries} landing loads of {rows} lines: {time.perf_counter() - started:.1f} s")
    produce_events(broker.bootstrap_servers, SALES_EVENTS.topic.name, None, batches * rows, seed=1)
    events = TopicIngestion(catalog, SALES_EVENTS, broker.bootstrap_servers)
    started = time.perf_counter()
    for _ in range(batches):
        events.run(max_records=rows)
    print(f"{batches} Kafka micro-batches of {rows} events: {time.perf_counter() - started:.1f} s")


def _load_in_one_commit(loaded: Settings, reference: Settings) -> None:
    source, target = catalog_for(loaded), catalog_for(reference)
    prepare_catalog(target)
    for table in TABLES:
        target.load_table(("bronze", table)).append(source.load_table(("bronze", table)).scan().to_arrow())


def _maintain(settings: Settings) -> float:
    """The maintenance job's work on every table: its run time."""
    started = time.perf_counter()
    for namespace, name, outcome in maintain_catalog(
        catalog_for(settings), PyicebergProcedures(), datetime.now(UTC) + A_WEEK_LATER
    ):
        if isinstance(outcome, Exception):
            raise SystemExit(f"maintaining {namespace}.{name} failed: {outcome}")
    return time.perf_counter() - started


def _print(states: dict[str, State]) -> None:
    header = f"{'state':<11} {'table':<19} {'files':>6} {'small/partition':>16} {'snapshots':>10}"
    print(header)
    print("-" * len(header))
    for name, state in states.items():
        for table, shape in state.tables.items():
            print(
                f"{name:<11} {table:<19} {shape.data_files:>6} {shape.most_small_files_in_a_partition:>16} "
                f"{shape.snapshots:>10}"
            )
    header = f"{'state':<11} {'count(*) s':>11} {'gold-shaped s':>14}"
    print(header)
    print("-" * len(header))
    for name, state in states.items():
        print(f"{name:<11} {state.count_seconds:>11.3f} {state.gold_seconds:>14.3f}")
    reference = states["one commit"]
    for name in ("loaded", "maintained"):
        state = states[name]
        print(
            f"{name} vs one commit: count(*) {state.count_seconds / reference.count_seconds:.2f}x, "
            f"gold-shaped {state.gold_seconds / reference.gold_seconds:.2f}x the time"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=500, help="landing files, one load each")
    parser.add_argument("--batches", type=int, default=500, help="Kafka micro-batches, one commit each")
    parser.add_argument("--rows", type=int, default=200, help="lines per file and events per micro-batch")
    parser.add_argument("--runs", type=int, default=5, help="runs of each query; the median is reported")
    arguments = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="lakehouse-bench-maintenance-"))
    broker = KafkaBroker(home / "kafka")
    try:
        broker.start()
        loaded = Settings(home=home / "loaded", kafka_bootstrap_servers=broker.bootstrap_servers)
        prepare_catalog(catalog_for(loaded))
        _load_like_the_sensors(loaded, broker, arguments.deliveries, arguments.batches, arguments.rows)
        reference = Settings(home=home / "reference")
        _load_in_one_commit(loaded, reference)
        states = {"loaded": _state(loaded, arguments.runs)}
        seconds = _maintain(loaded)
        states |= {"maintained": _state(loaded, arguments.runs), "one commit": _state(reference, arguments.runs)}
    finally:
        broker.stop()
        shutil.rmtree(home, ignore_errors=True)
    print(f"maintenance of every table: {seconds:.1f} s")
    _print(states)


if __name__ == "__main__":
    main()
