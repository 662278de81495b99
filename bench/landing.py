"""Landing Parquet files into bronze.marketplace_orders, against the obvious alternative.

Sample files are delivered to a local landing directory once; then each step loads all of them
into a fresh catalog, in a child process of its own so its peak memory (max RSS) is its own:

- ``landing``: `LandingIngestion`, what the asset runs: every row checked against the declared
  columns, bad input quarantined, all files in one commit that records them;
- ``table_append_per_file``: each file read with pyarrow, given the lineage columns, cast to the
  table's schema and written with pyiceberg's ``table.append``: one commit per file, no checks;
- ``asset``: the landing asset through ``dagster.materialize``, with its check.

The loads run ``--repeat`` rounds, one step after the other in each round, and the best round
of each step is reported: the build machines are shared, and a neighbour's burst of work should
not decide the comparison.

    python -m bench.landing --rows 5000000 --files 10
"""

import argparse
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bench.steps import report, run_step

if TYPE_CHECKING:
    from lakehouse.settings import Settings

MODULE = "bench.landing"
DATASET = "marketplace_orders"


def _settings(home: Path, step: str) -> "Settings":
    from lakehouse.settings import Settings

    # A catalog of its own for every run of a step: each round loads every file afresh.
    return Settings(home=Path(tempfile.mkdtemp(prefix=f"{step}-", dir=home)), landing=f"file://{home}/landing")


def _deliver(home: Path, rows: int, files: int) -> dict[str, object]:
    from lakehouse.ingest.landing.store import LocalLandingStore
    from lakehouse_dev.generators.marketplace_files import deliver_sample_files

    started = time.perf_counter()
    deliver_sample_files(LocalLandingStore(home / "landing"), files=files, rows=rows // files)
    return {"rows": rows // files * files, "files": files, "seconds": time.perf_counter() - started}


def _landing(home: Path, rows: int, files: int) -> dict[str, object]:
    from lakehouse.iceberg.catalog import catalog_for
    from lakehouse.iceberg.declarations import landing_declarations
    from lakehouse.ingest.landing.load import LandingIngestion
    from lakehouse.ingest.landing.store import landing_store

    settings = _settings(home, "landing")
    [declaration] = [d for d in landing_declarations() if d.table == DATASET]
    ingestion = LandingIngestion(catalog_for(settings), landing_store(settings), declaration)
    started = time.perf_counter()
    result = ingestion.run(max_files=files)
    seconds = time.perf_counter() - started
    if result.details.files_quarantined or result.rows_quarantined:
        raise RuntimeError(f"the sample files should all fit: {result.details.quarantine_reasons}")
    return {"rows": result.rows_written, "files": len(result.details.files_ingested), "seconds": seconds}


def _table_append_per_file(home: Path, rows: int, files: int) -> dict[str, object]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lakehouse.iceberg.catalog import bronze_table, catalog_for
    from lakehouse.iceberg.declarations import (
        DELIVERED_AT,
        INGESTED_AT,
        SOURCE,
        SOURCE_FILE,
        SOURCE_ROW,
        landing_declarations,
    )

    settings = _settings(home, "append")
    [declaration] = [d for d in landing_declarations() if d.table == DATASET]
    table = bronze_table(catalog_for(settings), declaration)
    schema = table.schema().as_arrow()
    paths = sorted((home / "landing" / DATASET).rglob("*.parquet"))
    started = time.perf_counter()
    written = 0
    ingested_at = pa.scalar(datetime.now(UTC), pa.timestamp("us", "UTC"))
    for path in paths:
        data = pq.read_table(path)
        count = data.num_rows
        source_file = pa.scalar(path.relative_to(home / "landing").as_posix())
        delivered_at = pa.scalar(datetime.fromtimestamp(path.stat().st_mtime, UTC), pa.timestamp("us", "UTC"))
        data = (
            data.append_column(INGESTED_AT, pa.repeat(ingested_at, count))
            .append_column(SOURCE, pa.repeat(pa.scalar(f"landing/{DATASET}"), count))
            .append_column(SOURCE_FILE, pa.repeat(source_file, count))
            .append_column(SOURCE_ROW, pa.array(range(1, count + 1), pa.int64()))
            .append_column(DELIVERED_AT, pa.repeat(delivered_at, count))
        )
        table.append(data.select(schema.names).cast(schema))
        written += count
    return {"rows": written, "files": len(paths), "seconds": time.perf_counter() - started}


def _asset(home: Path, rows: int, files: int) -> dict[str, object]:
    import dagster as dg

    from lakehouse.defs.landing.assets import build_landing_asset
    from lakehouse.defs.landing.jobs import LandingRunConfig
    from lakehouse.defs.landing.resources import landing_store_resource
    from lakehouse.defs.resources import iceberg_catalog
    from lakehouse.iceberg.declarations import landing_declarations

    settings = _settings(home, "asset")
    [declaration] = [d for d in landing_declarations() if d.table == DATASET]
    asset = build_landing_asset(declaration)
    started = time.perf_counter()
    result = dg.materialize(
        [asset],
        resources={"iceberg": iceberg_catalog(settings), "landing": landing_store_resource(settings)},
        run_config=dg.RunConfig(ops={asset.op.name: LandingRunConfig(max_files=files)}),
    )
    seconds = time.perf_counter() - started
    metadata = result.get_asset_materialization_events()[0].step_materialization_data.materialization.metadata
    return {"rows": metadata["rows_written"].value, "files": metadata["files_ingested"].value, "seconds": seconds}


LOADS = {
    "landing": _landing,
    "table_append_per_file": _table_append_per_file,
    "asset": _asset,
}
STEPS = {"deliver": _deliver, **LOADS}


def _child(step: str, home: Path, rows: int, files: int) -> None:
    report(STEPS[step](home, rows, files))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000_000, help="order lines in all files together")
    parser.add_argument("--files", type=int, default=10, help="Parquet files the rows are delivered in")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the loads; the best of each is shown")
    parser.add_argument("--child", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        _child(arguments.child, arguments.home, arguments.rows, arguments.files)
        return

    home = Path(tempfile.mkdtemp(prefix="lakehouse-bench-landing-"))
    try:
        child = ("--home", str(home), "--rows", str(arguments.rows), "--files", str(arguments.files))
        outcomes = {"deliver": run_step(MODULE, "deliver", *child)}
        rounds = [{step: run_step(MODULE, step, *child) for step in LOADS} for _ in range(arguments.repeat)]
        outcomes |= {step: min((r[step] for r in rounds), key=lambda o: o["seconds"]) for step in LOADS}
    finally:
        shutil.rmtree(home, ignore_errors=True)
    header = f"{'step':<22} {'rows':>12} {'files':>6} {'seconds':>8} {'rows/s':>12} {'peak MiB':>9}"
    print(header)
    print("-" * len(header))
    for step, outcome in outcomes.items():
        print(
            f"{step:<22} {int(outcome['rows']):>12,} {int(outcome['files']):>6} {outcome['seconds']:>8.2f} "
            f"{outcome['rows'] / outcome['seconds']:>12,.0f} {outcome['peak_rss_mib']:>9,.0f}"
        )
    ratio = outcomes["table_append_per_file"]["seconds"] / outcomes["landing"]["seconds"]
    print(f"landing vs table.append per file: {ratio:.2f}x the rows/s (best of {arguments.repeat} rounds)")


if __name__ == "__main__":
    main()
