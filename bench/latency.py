"""From a new landing file, and from a new Kafka message, to an updated gold table, under `dagster dev`.

A classic-size lakehouse on the `local` profile is built first, in the instance `dagster dev`
then uses, with the project's own Kafka broker as its bootstrap server. Then, one at a time, a
file of marketplace order lines is delivered (or one sales event produced) and the clock runs
until gold shows it: `gold.sales_unified` for files, `gold.live_sales_by_country` for events.
The sensors tick every `--interval` seconds (10, as in the floor).

The alternative, measured in the same run, is the work itself: the duration of the run the
sensor requested, from its start to its end, as the Dagster instance recorded it. What the
end-to-end latency adds to it is the wait for the sensor's tick and the run's launch.

    python -m bench.latency [--files 10] [--events 10] [--interval 10]
"""

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from lakehouse_dev.services.process import ServerProcess, log_tail

POLL_S = 0.5
GOLD_TIMEOUT_S = 300
FILE_ROWS = 100


def gold_count(sql: str, table: str) -> int:
    from lakehouse.engine import LocalEngine
    from lakehouse.iceberg.catalog import catalog_for
    from lakehouse.settings import load_settings

    engine = LocalEngine(catalog_for(load_settings()), [("gold", table)])
    try:
        return int(engine.scalar(sql) or 0)  # type: ignore[call-overload]
    finally:
        engine.close()


def wait_for(count: Callable[[], int], expected: int) -> float:
    started = time.perf_counter()
    while count() < expected:
        if time.perf_counter() - started > GOLD_TIMEOUT_S:
            raise SystemExit(f"gold did not change within {GOLD_TIMEOUT_S}s")
        time.sleep(POLL_S)
    return time.perf_counter() - started


def last_run_seconds(job_name: str) -> float:
    """How long the latest run of ``job_name`` took, once it has finished (gold changes before its checks end)."""
    import dagster as dg

    deadline = time.monotonic() + GOLD_TIMEOUT_S
    with dg.DagsterInstance.get() as instance:
        while time.monotonic() < deadline:
            record = instance.get_run_records(dg.RunsFilter(job_name=job_name), limit=1)[0]
            if record.start_time is not None and record.end_time is not None:
                return record.end_time - record.start_time
            time.sleep(POLL_S)
    raise SystemExit(f"the latest run of {job_name} did not finish within {GOLD_TIMEOUT_S}s")


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def _summary(values: list[float]) -> str:
    return f"p50 {statistics.median(values):6.1f} s   p95 {_p95(values):6.1f} s   max {max(values):6.1f} s"


def report(name: str, latencies: list[float], runs: list[float]) -> None:
    if not latencies:
        return
    print(f"{name} → gold over {len(latencies)} deliveries")
    print(f"  end to end      {_summary(latencies)}")
    print(f"  the run itself  {_summary(runs)}")
    print(f"  end to end / run, p95: {_p95(latencies) / _p95(runs):.2f}x")


def _dagster_dev(port: int, log_file: Path) -> ServerProcess:
    dagster = str(Path(sys.executable).parent / "dagster")
    server = ServerProcess.spawn(
        "dagster dev", [dagster, "dev", "-m", "lakehouse.definitions", "-p", str(port)], log_file
    )
    server.stop_signal = signal.SIGINT

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=1):
                return True
        except OSError:
            return False

    server.wait_ready(answers, timeout_s=120)
    return server


@contextmanager
def medallion_under_dagster_dev(log_file: Path, interval: int) -> Iterator[None]:
    """The medallion built in the instance of the environment's settings, then `dagster dev`
    serving it, its sensors given a first tick; the log's tail printed if the block fails."""
    import dagster as dg

    from lakehouse.definitions import defs
    from lakehouse.instance import prepare_dagster_home
    from lakehouse.settings import load_settings
    from lakehouse_dev.services.process import free_port

    prepare_dagster_home(load_settings())
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    with dg.DagsterInstance.get() as instance:
        if not defs().resolve_job_def("medallion").execute_in_process(instance=instance, run_config=quiet).success:
            raise SystemExit("the medallion job failed")
    server = _dagster_dev(free_port(), log_file)
    try:
        time.sleep(interval)
        yield
    except BaseException:
        print(log_tail(server.log_file))
        raise
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10, help="landing files delivered one at a time")
    parser.add_argument("--events", type=int, default=10, help="Kafka events produced one at a time")
    parser.add_argument("--interval", type=int, default=10, help="sensor interval in seconds")
    arguments = parser.parse_args()

    from lakehouse.settings import load_settings
    from lakehouse_dev.generators.marketplace_files import deliver_sample_files
    from lakehouse_dev.generators.northwind.generator import parse_scale
    from lakehouse_dev.generators.northwind.load import write_northwind
    from lakehouse_dev.generators.sales_events import produce_events
    from lakehouse_dev.services.kafka import KafkaBroker

    data_dir = Path(tempfile.mkdtemp(prefix="lakehouse-bench-latency-"))
    kafka = KafkaBroker(data_dir / "kafka").start()
    try:
        os.environ |= {
            "LAKEHOUSE_HOME": str(data_dir / "home"),
            "DAGSTER_HOME": str(data_dir / "dagster"),
            "LAKEHOUSE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "LAKEHOUSE_SENSOR_INTERVAL_SECONDS": str(arguments.interval),
        }
        settings = load_settings()
        topic = "sales-events"
        produce_events(settings.kafka_bootstrap_servers, topic, rate=None, count=0, seed=0)
        write_northwind(settings.source_url, parse_scale("classic"))
        with medallion_under_dagster_dev(data_dir / "dagster-dev.log", arguments.interval):

            def marketplace_lines() -> int:
                return gold_count(
                    "SELECT count(*) FROM gold.sales_unified WHERE channel = 'marketplace'", "sales_unified"
                )

            def events() -> int:
                return gold_count("SELECT sum(transactions) FROM gold.live_sales_by_country", "live_sales_by_country")

            latencies, runs = [], []
            for delivery in range(arguments.files):
                deliver_sample_files(settings, files=1, rows=FILE_ROWS, file_format="parquet", seed=delivery + 1)
                latencies.append(wait_for(marketplace_lines, (delivery + 1) * FILE_ROWS))
                runs.append(last_run_seconds("marketplace_orders_to_gold"))
            report("landing file", latencies, runs)

            latencies, runs = [], []
            for event in range(arguments.events):
                produce_events(settings.kafka_bootstrap_servers, topic, rate=None, count=1, seed=event + 1)
                latencies.append(wait_for(events, event + 1))
                runs.append(last_run_seconds("sales_events_to_gold"))
            report("Kafka message", latencies, runs)
    finally:
        kafka.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
