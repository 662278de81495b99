"""Incremental gold against a full rebuild of the same models, after small deliveries (`local` profile).

A lakehouse is built at ``--scale`` with `lakehouse materialize --job medallion`. Then, each round,
a 100-line marketplace file is landed in bronze and merged through silver (`dbt run` of
stg_marketplace_orders and sales_master), and the gold models kept incrementally from
sales_master (daily_revenue, revenue_by_country, revenue_by_category) are built twice: as a run
builds them, refreshing only the groups the new lines touch, then from scratch with
`--full-refresh`. Each is timed as dbt's own execution time of those models (`run_results.json`),
their Iceberg commits included and dbt's start-up excluded. Both give the same rows
(tests/incremental.py holds them to the cent).

    python -m bench.incremental [--scale 1M] [--rounds 3]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")
GOLD = ("daily_revenue", "revenue_by_country", "revenue_by_category")


def _models_seconds(target_path: Path, *arguments: str) -> dict[str, float]:
    """dbt's execution time of each of the ``GOLD`` models, built with ``arguments``."""
    from bench.floor import run_dbt

    run_dbt(target_path, "run", "--select", *GOLD, *arguments)
    results = json.loads((target_path / "run_results.json").read_text())["results"]
    return {result["unique_id"].split(".")[-1]: result["execution_time"] for result in results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="1M", help="the Northwind size: classic, 1M, 10M, ...")
    parser.add_argument("--rounds", type=int, default=3, help="deliveries, each built both ways")
    arguments = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="lakehouse-bench-incremental-"))
    try:
        os.environ |= {
            "LAKEHOUSE_HOME": str(home / "lakehouse"),
            "DAGSTER_HOME": str(home / "dagster"),
            "LAKEHOUSE_PROFILE": "local",
        }
        from bench.floor import run_dbt
        from lakehouse.iceberg.catalog import catalog_for
        from lakehouse.iceberg.declarations import landing_declarations
        from lakehouse.ingest.landing.load import LandingIngestion
        from lakehouse.ingest.landing.store import landing_store
        from lakehouse.settings import load_settings
        from lakehouse_dev.generators.marketplace_files import deliver_sample_files
        from lakehouse_dev.generators.northwind.generator import parse_scale
        from lakehouse_dev.generators.northwind.load import write_northwind

        settings = load_settings()
        write_northwind(settings.source_url, parse_scale(arguments.scale))
        subprocess.run([LAKEHOUSE, "materialize", "--job", "medallion"], check=True, capture_output=True)
        [marketplace] = [d for d in landing_declarations() if d.table == "marketplace_orders"]
        incremental: list[dict[str, float]] = []
        full: list[dict[str, float]] = []
        for round_number in range(1, arguments.rounds + 1):
            deliver_sample_files(settings, files=1, rows=100, seed=round_number)
            LandingIngestion(catalog_for(settings), landing_store(settings), marketplace).run()
            run_dbt(home / f"silver-{round_number}", "run", "--select", "stg_marketplace_orders", "sales_master")
            incremental.append(_models_seconds(home / f"incremental-{round_number}"))
            full.append(_models_seconds(home / f"full-{round_number}", "--full-refresh"))
        print(f"after a 100-line delivery at {arguments.scale}, median of {arguments.rounds} rounds (seconds)")
        print(f"  {'model':<22} {'incremental':>12} {'full refresh':>13} {'ratio':>7}")
        for model in (*GOLD, "all three"):
            both = [
                statistics.median(sum(times.values()) if model == "all three" else times[model] for times in runs)
                for runs in (incremental, full)
            ]
            print(f"  {model:<22} {both[0]:>12.2f} {both[1]:>13.2f} {both[0] / both[1]:>6.2f}x")
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
