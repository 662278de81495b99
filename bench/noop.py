"""A re-run of the `medallion` job with no new data, on a classic-size lakehouse (`local` profile).

The lakehouse is built once with `lakehouse materialize --job medallion`. Then, in turns, the same
command runs again with nothing new in the source, the landing folder or Kafka, and again tagged
to rebuild every model (`lakehouse materialize --job medallion --rebuild`): what each re-run cost
before a run built only the models whose inputs changed. Each is timed as a whole process, and
as the run Dagster recorded. The bench fails if a no-op re-run wrote a snapshot anywhere.

    python -m bench.noop [--runs 5]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")


def _snapshots() -> dict[str, str | None]:
    from lakehouse.iceberg.catalog import catalog_for, catalog_tables, current_snapshots
    from lakehouse.settings import load_settings

    catalog = catalog_for(load_settings())
    return current_snapshots(catalog, [f"{namespace}.{name}" for namespace, name in catalog_tables(catalog)])


def _last_run_seconds() -> float:
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        record = instance.get_run_records(dg.RunsFilter(job_name="medallion"), limit=1)[0]
        assert record.start_time is not None and record.end_time is not None
        return record.end_time - record.start_time


def _materialize(*options: str) -> tuple[float, float]:
    """The process's wall time and the run's recorded duration, in seconds."""
    started = time.perf_counter()
    subprocess.run([LAKEHOUSE, "materialize", "--job", "medallion", *options], check=True, capture_output=True)
    return time.perf_counter() - started, _last_run_seconds()


def _summary(values: list[float]) -> str:
    return f"min {min(values):5.2f} s   median {statistics.median(values):5.2f} s   max {max(values):5.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="re-runs of each kind")
    arguments = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="lakehouse-bench-noop-"))
    try:
        os.environ |= {"LAKEHOUSE_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"), "LAKEHOUSE_PROFILE": "local"}
        subprocess.run([LAKEHOUSE, "generate", "--scale", "classic"], check=True, capture_output=True)
        _materialize()
        built = _snapshots()
        noop: list[tuple[float, float]] = []
        rebuild: list[tuple[float, float]] = []
        for _ in range(arguments.runs):
            noop.append(_materialize())
            if _snapshots() != built:
                raise SystemExit("a re-run with no new data wrote a new snapshot")
            rebuild.append(_materialize("--rebuild"))
            built = _snapshots()
        for title, index in (("whole process", 0), ("the run itself", 1)):
            no_change, everything = [run[index] for run in noop], [run[index] for run in rebuild]
            print(f"medallion re-run, {title}, over {arguments.runs} runs each")
            print(f"  no new data         {_summary(no_change)}")
            print(f"  rebuild every model {_summary(everything)}")
            ratio = statistics.median(no_change) / statistics.median(everything)
            print(f"  no new data / rebuild, median: {ratio:.2f}x")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
