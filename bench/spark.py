"""The Spark models against the same computation in DuckDB, by scale.

For each scale, Northwind is generated into SQLite and the medallion built through
silver.sales_master and the dbt gold models (not timed). Then, in a process of its own, the Spark
session is started on `local[*]`, timed on its own (the JVM's launch, the jars, the catalog), and
each round computes each model both ways from the same snapshot of sales_master and commits it
to an Iceberg table:

- Spark: the model's DataFrame over the catalog's sales_master, replacing its gold table;
- DuckDB: sales_master scanned by pyiceberg into Arrow, the model as plain SQL in DuckDB
  (`lakehouse_dev.spark_reference`, the SQL the tests compare Spark's tables with), and the result
  committed by pyiceberg to a table beside it.

Both must give the same number of rows.

    python -m bench.spark [--scale 1M,10M] [--rounds 3]
"""

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.rounds import print_rounds
from bench.steps import report, run_step

MODULE = "bench.spark"


def _build_silver() -> None:
    import dagster as dg

    from lakehouse.definitions import defs

    definitions = defs()
    job = definitions.resolve_job_def("medallion")
    keys = list((dg.AssetSelection.all() - dg.AssetSelection.kind("spark")).resolve(definitions.resolve_asset_graph()))
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    built = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), asset_selection=keys, run_config=quiet)
    if not built.success:
        raise SystemExit("the medallion job failed")


def _measure(rounds: int) -> dict[str, Any]:
    import duckdb

    from lakehouse.defs.spark.assets import SPARK_MODELS
    from lakehouse.defs.spark.resources import spark_resource
    from lakehouse.iceberg.catalog import catalog_for
    from lakehouse.settings import load_settings
    from lakehouse.spark.models import SALES_MASTER
    from lakehouse_dev.spark_reference import REFERENCE_SQL

    _build_silver()
    settings = load_settings()
    catalog = catalog_for(settings)
    lines = catalog.load_table(tuple(SALES_MASTER.split(".")))
    started = time.perf_counter()
    session = spark_resource(settings).session()
    startup = time.perf_counter() - started
    seconds: dict[str, list[float]] = {}
    rows: dict[str, int] = {}
    for _ in range(rounds):
        for model in SPARK_MODELS:
            started = time.perf_counter()
            model.compute(session.table(SALES_MASTER)).writeTo(model.table).createOrReplace()
            seconds.setdefault(f"{model.name} spark", []).append(time.perf_counter() - started)

            started = time.perf_counter()
            sales_master = lines.scan().to_arrow()  # noqa: F841 (read by DuckDB by its name)
            result = duckdb.sql(REFERENCE_SQL[model.name]).to_arrow_table()
            duckdb_table = catalog.create_table_if_not_exists(("gold", f"{model.name}_duckdb"), schema=result.schema)
            duckdb_table.overwrite(result)
            seconds.setdefault(f"{model.name} duckdb", []).append(time.perf_counter() - started)
            spark_rows = catalog.load_table(("gold", model.name)).scan().count()
            if spark_rows != result.num_rows:
                raise SystemExit(f"{model.name}: Spark wrote {spark_rows} rows, DuckDB {result.num_rows}")
            rows[model.name] = spark_rows
    session.stop()
    return {"startup": startup, "seconds": seconds, "rows": rows, "lines": lines.scan().count()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="1M,10M", help="comma-separated sizes: classic, 1M, 10M, ...")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both models, each way")
    parser.add_argument("--child", choices=("measure",), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        report(_measure(arguments.rounds))
        return

    from lakehouse_dev.generators.northwind.generator import parse_scale
    from lakehouse_dev.generators.northwind.load import write_northwind

    for scale in arguments.scale.split(","):
        home = Path(tempfile.mkdtemp(prefix=f"lakehouse-spark-{scale}-"))
        try:
            write_northwind(f"sqlite:///{home}/lakehouse/northwind.db", parse_scale(scale))
            os.environ |= {"LAKEHOUSE_HOME": str(home / "lakehouse"), "LAKEHOUSE_PROFILE": "local"}
            figures = run_step(MODULE, "measure", "--rounds", str(arguments.rounds))
        finally:
            shutil.rmtree(home, ignore_errors=True)
        rows = ", ".join(f"{name} {count:,} rows" for name, count in figures["rows"].items())
        print(f"\n{scale}: {figures['lines']:,} lines in silver.sales_master; {rows}")
        print(f"Spark session start-up on local[*]: {figures['startup']:.1f} s (once per run that computes a model)")
        seconds = figures["seconds"]
        for model in figures["rows"]:
            ways = {f"{model} {way}": seconds[f"{model} {way}"] for way in ("spark", "duckdb")}
            print_rounds(ways, f"{model} duckdb")


if __name__ == "__main__":
    main()
