"""The `stack` profile on the real servers: start-up, the medallion end to end, Trino's latency.

Installs (downloads and builds into `.cache/services`) are timed first: near zero once cached.
The four servers then start from a fresh data directory (a warm start: nothing to install). The
`medallion` job runs at the given Northwind size, generation excluded, with Dagster's storage in
PostgreSQL. Trino is then restarted, so its first query on gold is a first query indeed, and the
same query is repeated; a pyiceberg scan of the same table, in this process, is the alternative.

    python -m bench.stack [--scale classic] [--repeats 20]
"""

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.rounds import timed

GOLD_QUERY = "SELECT * FROM gold.revenue_by_country ORDER BY revenue_rank"


def _row(name: str, value: float, unit: str = "s", note: str = "") -> None:
    print(f"  {name:<44} {value:>9.3f} {unit:<3} {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="classic", help="Northwind size: classic, 1M, ...")
    parser.add_argument("--repeats", type=int, default=20, help="repeats of the gold query")
    arguments = parser.parse_args()

    import dagster as dg

    from lakehouse.engine import TrinoEngine
    from lakehouse.iceberg.catalog import catalog_for
    from lakehouse.instance import prepare_dagster_home
    from lakehouse.security.database_roles import apply_change_capture, as_admin
    from lakehouse_dev.generators.northwind.generator import parse_scale
    from lakehouse_dev.generators.northwind.load import write_northwind
    from lakehouse_dev.services.kafka import kafka_libs
    from lakehouse_dev.services.minio import minio_binary
    from lakehouse_dev.services.stack import Stack, stack_settings
    from lakehouse_dev.services.trino import install_trino

    print("installs (cached after the first run)")
    for name, install in (("trino", install_trino), ("minio", minio_binary), ("kafka", kafka_libs)):
        _row(f"{name} install", timed(install))

    data_dir = Path(tempfile.mkdtemp(prefix="lakehouse-bench-stack-"))
    data_dir.chmod(0o755)
    settings = stack_settings(data_dir / "home")
    stack = Stack(settings, data_dir)
    print("warm start, all four in parallel after PostgreSQL")
    started = time.perf_counter()
    stack.start(on_started=lambda name: _row(f"{name} ready after", time.perf_counter() - started))
    _row("all four services up", time.perf_counter() - started)
    try:
        os.environ.update(settings.environment())
        os.environ["DAGSTER_HOME"] = str(prepare_dagster_home(settings))
        write_northwind(as_admin(settings, settings.source_url), parse_scale(arguments.scale))
        apply_change_capture(settings)
        from lakehouse.definitions import defs

        with dg.DagsterInstance.get() as instance:
            job = defs().resolve_job_def("medallion")
            run_config = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
            started = time.perf_counter()
            result = job.execute_in_process(instance=instance, run_config=run_config, raise_on_error=False)
            medallion = time.perf_counter() - started
        if not result.success:
            raise SystemExit("the medallion job failed on the stack")
        print(f"end to end at {arguments.scale}, services up, generation excluded")
        _row("medallion job (bronze, dbt on Trino, checks)", medallion)

        print("Trino on gold, after a restart")
        stack.trino.stop()
        _row("trino restart (warm)", timed(stack.trino.start))
        engine = TrinoEngine(settings)
        _row("first query on gold", timed(lambda: engine.query(GOLD_QUERY)))
        repeats = [timed(lambda: engine.query(GOLD_QUERY)) for _ in range(arguments.repeats)]
        engine.close()
        table = catalog_for(settings).load_table(("gold", "revenue_by_country"))
        scans = [timed(lambda: table.scan().to_arrow()) for _ in range(arguments.repeats)]
        trino_median, scan_median = statistics.median(repeats), statistics.median(scans)
        _row("repeat query, median", trino_median, note=f"max {max(repeats):.3f} s over {len(repeats)}")
        _row("pyiceberg scan of the same table, median", scan_median, note=f"max {max(scans):.3f} s")
        _row("Trino repeat / pyiceberg scan", trino_median / scan_median, unit="x")
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
