"""The whole medallion (bronze extraction through gold) on the embedded profile, by scale.

Generation is excluded. The `medallion` job runs in process, as `lakehouse materialize` runs it;
its time is split into the bronze step, the dbt step and Dagster's own overhead (run start,
planning, event handling). dbt's fixed start-up cost is measured separately with a run that
selects nothing, from the same partial parse as the job's dbt run, so the dbt step can be read
as start-up plus model work (models, their Iceberg commits and dbt's tests).

In the same run, once the job has built bronze through gold, the floor (`direct_duckdb`, see
`bench.floor`) is the same model SQL, compiled by dbt as a full refresh, run directly in DuckDB
over the same bronze data files in dbt's dependency order, each model written to Parquet. It
excludes dbt itself (start-up, parsing, materializations, tests) and the Iceberg commits; the
compile and attaching bronze are not timed. Its gold row counts must match the Iceberg gold
tables'. `dbt/direct` is the dbt step's time over the floor's.

    python -m bench.medallion --scale 1M,10M
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEP_TIMEOUT_S = 3600


def _measure(home: Path) -> dict[str, float]:
    import dagster as dg

    from bench.floor import compiled_models, direct_duckdb, run_dbt
    from lakehouse.definitions import defs
    from lakehouse.iceberg.catalog import catalog_for
    from lakehouse.settings import load_settings

    started = time.perf_counter()
    run_dbt(home / "dbt-startup", "run", "--select", "nothing_matches_this")
    dbt_startup = time.perf_counter() - started

    job = defs().resolve_job_def("medallion")
    started = time.perf_counter()
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    total = time.perf_counter() - started
    if not result.success:
        raise SystemExit("the medallion job failed")
    steps = {
        event.step_key: event.event_specific_data.duration_ms / 1000  # type: ignore[union-attr]
        for event in result.all_events
        if event.is_step_success and event.step_key
    }
    bronze = steps.pop("extract_northwind")
    dbt = steps.pop("medallion_models")
    checks = sum(steps.values())
    floor = direct_duckdb(catalog_for(load_settings()), compiled_models(home / "floor-compile"), home / "floor")
    return {
        "total": total,
        "bronze": bronze,
        "dbt": dbt,
        "python_checks": checks,
        "dagster_overhead": total - bronze - dbt - checks,
        "dbt_startup": dbt_startup,
        "direct_duckdb": floor,
        "dbt/direct": dbt / floor,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="1M,10M", help="comma-separated sizes: classic, 1M, 10M, ...")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        print(json.dumps(_measure(arguments.child)))
        return

    from lakehouse_dev.generators.northwind.generator import parse_scale
    from lakehouse_dev.generators.northwind.load import write_northwind

    columns = ("total", "bronze", "dbt", "python_checks", "dagster_overhead", "dbt_startup", "direct_duckdb")
    header = f"{'scale':>8} " + " ".join(f"{name:>16}" for name in (*columns, "dbt/direct"))
    print(header + "   (seconds; dbt/direct a ratio)")
    print("-" * len(header))
    for scale in arguments.scale.split(","):
        home = Path(tempfile.mkdtemp(prefix=f"lakehouse-medallion-{scale}-"))
        write_northwind(f"sqlite:///{home}/lakehouse/northwind.db", parse_scale(scale))
        environment = {**os.environ, "LAKEHOUSE_HOME": str(home / "lakehouse"), "LAKEHOUSE_PROFILE": "local"}
        completed = subprocess.run(
            [sys.executable, "-m", "bench.medallion", "--child", str(home)],
            env=environment, capture_output=True, text=True, timeout=STEP_TIMEOUT_S, check=False,
        )  # fmt: skip
        if completed.returncode != 0:
            raise SystemExit(f"medallion at {scale} failed:\n{completed.stderr[-4000:]}{completed.stdout[-2000:]}")
        figures = json.loads(completed.stdout.strip().splitlines()[-1])
        seconds = " ".join(f"{figures[name]:>16.1f}" for name in columns)
        print(f"{scale:>8} {seconds} {figures['dbt/direct']:>16.2f}")
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
