"""Change data capture from the harness PostgreSQL: changes into bronze per second, and the time
from a committed update to gold.

Throughput. A Northwind of ``--scale`` order lines is written to PostgreSQL and its captured
tables take their first snapshot. Then, each round, one UPDATE changes the quantity of every
order line (``--scale`` updates in one transaction) and a capture run writes them all to
bronze.order_details: the changes per second. The alternative, in the same round, is the
incremental extraction of the same rows (every order line, on its cursor `order_id`) from the
same server into an empty bronze table, as a source without a change log is loaded.

Latency. A classic-size lakehouse on the `local` profile, its source the same PostgreSQL, runs
under `dagster dev` with the sensors ticking every ``--interval`` seconds (10, as in the floor).
Each round commits one update of an order line's quantity and the clock runs until
gold.daily_revenue shows it; the run the sensor requested is timed too, from its start to its end.

    python -m bench.cdc [--scale 1M] [--rounds 3] [--changes 10] [--interval 10]
"""

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench.latency import gold_count, last_run_seconds, medallion_under_dagster_dev, report, wait_for
from bench.rounds import print_rounds, timed

if TYPE_CHECKING:
    from lakehouse.iceberg.declarations import TableDeclaration

NORTHWIND = "northwind"


def _captured() -> list["TableDeclaration"]:
    from lakehouse.iceberg.declarations import LoadMode, bronze_declarations

    return [d for d in bronze_declarations() if d.load_mode("postgresql") is LoadMode.CDC]


def _execute(url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as connection:
        connection.execute(statement)


def throughput(url: str, home: Path, scale: str, rounds: int) -> None:
    from lakehouse.iceberg.catalog import catalog_for
    from lakehouse.iceberg.declarations import LoadMode
    from lakehouse.ingest.database.changes import ChangeCapture
    from lakehouse.ingest.database.extract import Extraction
    from lakehouse.ingest.database.source import SourceDatabase
    from lakehouse.settings import EXTRACT_CHUNK_ROWS, Settings
    from lakehouse_dev.generators.northwind.generator import parse_scale
    from lakehouse_dev.generators.northwind.load import write_northwind

    write_northwind(url, parse_scale(scale))
    source = SourceDatabase(url)
    lines = source.count("order_details")
    capture = ChangeCapture(catalog_for(Settings(home=home / "captured", source_url=url)), source, _captured(),
                            EXTRACT_CHUNK_ROWS)  # fmt: skip
    snapshot = timed(capture.run)
    [captured_lines] = [d for d in _captured() if d.table == "order_details"]
    incremental = captured_lines.model_copy(
        update={"source": captured_lines.source.model_copy(update={"load": LoadMode.INCREMENTAL})}
    )
    seconds: dict[str, list[float]] = {"capture the updates": [], "extract incrementally": []}
    for round_number in range(rounds):
        _execute(url, "UPDATE order_details SET quantity = quantity + 1")
        started = time.perf_counter()
        written = {result.table: result.rows_written for result in capture.run()}
        seconds["capture the updates"].append(time.perf_counter() - started)
        if written.get("bronze.order_details") != lines:
            raise SystemExit(f"the capture wrote {written}, not the {lines:,} updated order lines")
        catalog = catalog_for(Settings(home=home / f"extracted-{round_number}", source_url=url))
        seconds["extract incrementally"].append(timed(Extraction(catalog, source, incremental).run))
    print(f"{lines:,} order lines in PostgreSQL; the first snapshot of the captured tables took {snapshot:.1f} s")
    print_rounds(seconds, "extract incrementally")
    for name, values in seconds.items():
        print(f"{name:<32} {lines / min(values):>12,.0f} rows/s at best, {lines / max(values):,.0f} at worst")


def latency(url: str, home: Path, changes: int, interval: int) -> None:
    from lakehouse_dev.generators.northwind.generator import parse_scale
    from lakehouse_dev.generators.northwind.load import write_northwind

    _execute(url.rsplit("/", 1)[0] + "/postgres", "CREATE DATABASE latency")
    source_url = url.rsplit("/", 1)[0] + "/latency"
    os.environ |= {
        "LAKEHOUSE_HOME": str(home / "latency"),
        "DAGSTER_HOME": str(home / "dagster"),
        "LAKEHOUSE_SOURCE_URL": source_url,
        "LAKEHOUSE_SENSOR_INTERVAL_SECONDS": str(interval),
    }
    write_northwind(source_url, parse_scale("classic"))
    with medallion_under_dagster_dev(home / "dagster-dev.log", interval):

        def units() -> int:
            return gold_count("SELECT sum(units) FROM gold.daily_revenue", "daily_revenue")

        latencies, runs = [], []
        for change in range(changes):
            before = units()
            line = f"SELECT order_id, product_id FROM order_details ORDER BY 1, 2 LIMIT 1 OFFSET {change}"
            _execute(
                source_url, f"UPDATE order_details SET quantity = quantity + 1 WHERE (order_id, product_id) = ({line})"
            )
            latencies.append(wait_for(units, before + 1))
            runs.append(last_run_seconds("order_details_to_gold"))
        report("committed update", latencies, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="1M", help="order lines in the throughput's Northwind")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of updates, each also extracted incrementally")
    parser.add_argument("--changes", type=int, default=10, help="updates committed one at a time for the latency")
    parser.add_argument("--interval", type=int, default=10, help="sensor interval in seconds")
    arguments = parser.parse_args()

    from lakehouse_dev.services.postgres import PostgresServer

    data_dir = Path(tempfile.mkdtemp(prefix="lakehouse-bench-cdc-"))
    data_dir.chmod(0o755)  # the `postgres` system user enters it when the harness runs as root
    postgres = PostgresServer(data_dir / "postgres", databases=(NORTHWIND,)).start()
    try:
        url = postgres.url(NORTHWIND)
        throughput(url, data_dir, arguments.scale, arguments.rounds)
        if arguments.changes:
            latency(url, data_dir, arguments.changes, arguments.interval)
    finally:
        postgres.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
