"""One case through the running daemon: a file lands, the landing sensor requests a run, gold changes.

The lakehouse is built first in this process, recorded in the same Dagster instance the daemon
then uses, so the daemon has only the new file to react to. The sensor interval is shortened
to 2 s to keep the test short; `bench/latency.py` measures the path at the 10 s interval.
"""

import json
import signal
import sys
import time
from pathlib import Path

import dagster as dg

from lakehouse.definitions import defs
from lakehouse.engine import LocalEngine
from lakehouse.iceberg.catalog import catalog_for
from lakehouse.ingest.database.source import SourceDatabase
from lakehouse.observability import metrics
from lakehouse.observability.exporter import lakehouse_collector
from lakehouse.settings import Settings
from lakehouse_dev.generators.marketplace_files import deliver_sample_files
from lakehouse_dev.services.process import ServerProcess, log_tail
from tests.observability import of, values

DAEMON = str(Path(sys.executable).parent / "dagster-daemon")
GOLD_TIMEOUT_S = 240
FILE_ROWS = 25
LANDING_JOB = "marketplace_orders_to_gold"
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


def marketplace_lines_in_gold(settings: Settings) -> int:
    engine = LocalEngine(catalog_for(settings), [("gold", "sales_unified")])
    try:
        return int(engine.scalar("SELECT count(*) FROM gold.sales_unified WHERE channel = 'marketplace'"))  # type: ignore[call-overload]
    finally:
        engine.close()


def finished_runs(job_name: str) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.get() as instance:
        records = instance.get_run_records(dg.RunsFilter(job_name=job_name, statuses=FINISHED))
    return [record.dagster_run for record in records]


def test_a_landed_file_reaches_gold_through_the_daemon(
    settings: Settings, classic_source: SourceDatabase, tmp_path: Path
) -> None:
    with dg.DagsterInstance.get() as instance:
        built = defs().resolve_job_def("medallion").execute_in_process(instance=instance, raise_on_error=False)
    assert built.success
    assert marketplace_lines_in_gold(settings) == 0

    environment = settings.environment() | {"LAKEHOUSE_SENSOR_INTERVAL_SECONDS": "2", "LAKEHOUSE_LOG_FORMAT": "json"}
    daemon = ServerProcess.spawn(
        "dagster-daemon",
        [DAEMON, "run", "-m", "lakehouse.definitions"],
        tmp_path / "daemon.log",
        env=environment,
        cwd=tmp_path,
    )
    daemon.stop_signal = signal.SIGINT
    try:
        deliver_sample_files(settings, files=1, rows=FILE_ROWS, file_format="csv", seed=7)
        deadline = time.monotonic() + GOLD_TIMEOUT_S
        while not (runs := finished_runs(LANDING_JOB)) and time.monotonic() < deadline:
            assert daemon.alive(), log_tail(daemon.log_file)
            time.sleep(1)
    finally:
        daemon.stop()
    assert [run.status for run in runs] == [dg.DagsterRunStatus.SUCCESS], log_tail(daemon.log_file)
    assert runs[0].tags.get("dagster/sensor_name") == "marketplace_orders_landing_files"
    assert marketplace_lines_in_gold(settings) == FILE_ROWS
    # The sensor's run logged through the JSON console logger its job names: the assets' own lines too.
    logged = [json.loads(line) for line in daemon.log_file.read_text().splitlines() if line.startswith("{")]
    run_lines = [line for line in logged if line.get("run_id") == runs[0].run_id]
    assert any("marketplace_orders" in line["message"] and line["logger"] == "lakehouse.run" for line in run_lines)
    assert all({"time", "level", "logger", "message"} <= set(line) for line in run_lines)
    read = values(lakehouse_collector(settings).read())
    assert of(read, metrics.SENSOR_TICK_FAILED)[("marketplace_orders_landing_files",)] == 0
    assert of(read, metrics.DAGSTER_RUNS)[(LANDING_JOB, "SUCCESS")] == 1
