"""Generation and extraction throughput at several Northwind sizes.

Each step runs in a fresh child process so its peak memory (max RSS) is its own. Extraction of
the same source is measured three ways: tables one after another (the baseline), two tables at
a time (what the asset does), and the whole `extract_northwind` asset through
`dagster.materialize`, which adds Dagster's run overhead and the asset checks.

This machine's speed drifts by a quarter within minutes, so the extraction steps run
``--repeat`` rounds, the three steps one after the other in each round: the table shows each
step's median round and the range of its rows/s, and the ratio compares medians.

    python -m bench.extraction --scale 1M,10M
"""

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.steps import report, run_step

MODULE = "bench.extraction"
# Each extraction step starts from an empty lakehouse here; the source beside it is kept.
LAKEHOUSE = "lakehouse"


def _generate(home: Path, scale: str) -> dict[str, object]:
    from lakehouse_dev.generators.northwind.generator import parse_scale
    from lakehouse_dev.generators.northwind.load import write_northwind

    summary = write_northwind(f"sqlite:///{home}/northwind.db", parse_scale(scale))
    return {
        "rows": sum(summary.rows.values()),
        "order_lines": summary.rows["order_details"],
        "seconds": summary.seconds,
    }


def _extract(home: Path, concurrency: int) -> dict[str, object]:
    from lakehouse.iceberg.catalog import catalog_for
    from lakehouse.iceberg.declarations import bronze_declarations
    from lakehouse.ingest.database.extract import extract_tables
    from lakehouse.ingest.database.source import SourceDatabase
    from lakehouse.settings import Settings

    settings = Settings(home=home / LAKEHOUSE)
    catalog = catalog_for(settings)
    source = SourceDatabase(f"sqlite:///{home}/northwind.db")
    started = time.perf_counter()
    rows = 0
    outcomes = extract_tables(
        catalog, source, bronze_declarations(), chunk_rows=settings.extract_chunk_rows, concurrency=concurrency
    )
    for declaration, result in outcomes:
        if isinstance(result, Exception):
            raise RuntimeError(f"{declaration.table}: {result}")
        rows += result.rows_written
    return {"rows": rows, "seconds": time.perf_counter() - started}


def _extract_sequential(home: Path) -> dict[str, object]:
    return _extract(home, concurrency=1)


def _extract_concurrent(home: Path) -> dict[str, object]:
    return _extract(home, concurrency=2)


def _extract_asset(home: Path) -> dict[str, object]:
    import dagster as dg

    from lakehouse.defs.database.assets import build_bronze_assets
    from lakehouse.defs.database.resources import source_database
    from lakehouse.defs.resources import iceberg_catalog
    from lakehouse.iceberg.declarations import bronze_declarations
    from lakehouse.settings import Settings

    settings = Settings(home=home / LAKEHOUSE, source_url=f"sqlite:///{home}/northwind.db")
    assets = build_bronze_assets(bronze_declarations())
    started = time.perf_counter()
    resources = {"iceberg": iceberg_catalog(settings), "source_database": source_database(settings)}
    result = dg.materialize([assets], resources=resources)
    seconds = time.perf_counter() - started
    rows = 0
    for event in result.get_asset_materialization_events():
        rows += int(event.step_materialization_data.materialization.metadata["rows_written"].value)  # type: ignore[arg-type]
    return {"rows": rows, "seconds": seconds}


EXTRACTION_STEPS = {
    "extract_sequential": _extract_sequential,
    "extract_concurrent": _extract_concurrent,
    "asset_with_checks": _extract_asset,
}
STEPS = {"generate": _generate, **EXTRACTION_STEPS}


def _child(step: str, home: Path, scale: str) -> None:
    arguments = (home, scale) if step == "generate" else (home,)
    report(STEPS[step](*arguments))  # type: ignore[operator]


def _print_row(scale: str, step: str, rounds: list[dict[str, float]]) -> None:
    median = sorted(rounds, key=lambda outcome: outcome["seconds"])[len(rounds) // 2]
    rates = [outcome["rows"] / outcome["seconds"] for outcome in rounds]
    spread = f"{min(rates):,.0f}-{max(rates):,.0f}" if len(rounds) > 1 else ""
    print(
        f"{scale:>8} {step:<20} {int(median['rows']):>12,} {median['seconds']:>8.1f} "
        f"{median['rows'] / median['seconds']:>12,.0f} {spread:>23} {max(o['peak_rss_mib'] for o in rounds):>9,.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="1M,10M", help="comma-separated sizes: classic, 1M, 10M, ...")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the extraction steps; medians are shown")
    parser.add_argument("--child", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        _child(arguments.child, arguments.home, arguments.scale)
        return

    header = f"{'scale':>8} {'step':<20} {'rows':>12} {'seconds':>8} {'rows/s':>12} {'rows/s range':>23} "
    header += f"{'peak MiB':>9}"
    print(header)
    print("-" * len(header))
    for scale in arguments.scale.split(","):
        home = Path(tempfile.mkdtemp(prefix=f"lakehouse-bench-{scale}-"))
        try:
            child = ("--home", str(home), "--scale", scale)
            generated = run_step(MODULE, "generate", *child)
            rounds: dict[str, list[dict[str, float]]] = {step: [] for step in EXTRACTION_STEPS}
            for _ in range(arguments.repeat):
                for step in EXTRACTION_STEPS:
                    rounds[step].append(run_step(MODULE, step, *child))
                    shutil.rmtree(home / LAKEHOUSE)
        finally:
            shutil.rmtree(home, ignore_errors=True)
        _print_row(scale, "generate", [generated])
        for step, outcomes in rounds.items():
            _print_row(scale, step, outcomes)
        sequential, concurrent = (statistics.median(o["seconds"] for o in rounds[step]) for step in
                                  ("extract_sequential", "extract_concurrent"))  # fmt: skip
        print(f"{scale:>8} concurrent vs sequential extraction: {sequential / concurrent:.2f}x (medians)")


if __name__ == "__main__":
    main()
