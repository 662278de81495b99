"""The floor for the medallion's dbt step: the same model SQL run directly in DuckDB.

dbt compiles every model as a full refresh (each built from bronze, none incremental); the SQL
then runs in dbt's dependency order in a fresh in-memory DuckDB, bounded as dbt's is
(dbt/profiles.yml), over views of bronze's current Iceberg data files. Each model becomes a
DuckDB table and is written to a Parquet file (zstd, as the Iceberg tables are), as dbt's path
writes Iceberg data files. The floor leaves out dbt (start-up, parsing, its adapter and
materializations, its tests) and the Iceberg commits; the compile and attaching bronze are not
timed.
"""

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from graphlib import TopologicalSorter
from pathlib import Path

import duckdb
from pyiceberg.catalog import Catalog

from lakehouse.defs.medallion.assets import DBT_EXECUTABLE, DBT_PROJECT_DIR
from lakehouse.engine import attach_catalog, literal, quote
from lakehouse.iceberg.catalog import catalog_tables
from lakehouse.iceberg.commits import current_row_count

# As dbt's DuckDB (dbt/profiles.yml); threads are DuckDB's default, one per core.
MEMORY_LIMIT = "2GB"
PARTIAL_PARSE = "partial_parse.msgpack"


@dataclass(frozen=True)
class Model:
    schema: str
    name: str
    sql: str

    @property
    def relation(self) -> str:
        return f"{quote(self.schema)}.{quote(self.name)}"


def run_dbt(target_path: Path, *arguments: str) -> None:
    """dbt ``arguments`` on the project's duckdb target, its artifacts under ``target_path``.

    dbt starts from the partial parse prepared at build time (`make install`), as the medallion's
    dbt runs do (dagster-dbt copies it into each run's target path), rather than parsing the
    whole project again."""
    target_path.mkdir(parents=True, exist_ok=True)
    shutil.copy(DBT_PROJECT_DIR / "target" / PARTIAL_PARSE, target_path)
    subprocess.run(
        [DBT_EXECUTABLE, *arguments, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
         "--target", "duckdb", "--target-path", str(target_path)],
        check=True, capture_output=True,
    )  # fmt: skip


def compiled_models(target_path: Path) -> list[Model]:
    """Every model's SQL as dbt compiles it for a full refresh, in dbt's dependency order."""
    run_dbt(
        target_path, "compile", "--no-introspect", "--full-refresh",
        "--select", "resource_type:model", "--indirect-selection", "empty",
    )  # fmt: skip
    manifest = json.loads((target_path / "manifest.json").read_text())
    nodes = {unique_id: node for unique_id, node in manifest["nodes"].items() if node["resource_type"] == "model"}
    graph = {
        unique_id: [parent for parent in manifest["parent_map"][unique_id] if parent in nodes]
        for unique_id in sorted(nodes)
    }
    return [
        Model(nodes[unique_id]["schema"], nodes[unique_id]["alias"], nodes[unique_id]["compiled_code"])
        for unique_id in TopologicalSorter(graph).static_order()
    ]


def direct_duckdb(catalog: Catalog, models: list[Model], folder: Path) -> float:
    """Seconds to build ``models`` directly in DuckDB from bronze's current data files, writing
    each to Parquet under ``folder``. Fails when a gold table's row count differs from its Iceberg
    table's, as dbt built it."""
    folder.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(config={"memory_limit": MEMORY_LIMIT})
    try:
        # What does not fit spills here, as dbt's DuckDB spills under LAKEHOUSE_HOME.
        connection.execute(f"SET temp_directory = {literal(str(folder / 'spill'))}")
        attach_catalog(connection, catalog, [table for table in catalog_tables(catalog) if table[0] == "bronze"])
        started = time.perf_counter()
        for model in models:
            connection.execute(f"CREATE TABLE {model.relation} AS (\n{model.sql}\n)")
            written = folder / f"{model.schema}.{model.name}.parquet"
            connection.execute(f"COPY {model.relation} TO {literal(str(written))} (FORMAT parquet, COMPRESSION zstd)")
        seconds = time.perf_counter() - started
        _check_gold(connection, catalog, models)
    finally:
        connection.close()
        shutil.rmtree(folder, ignore_errors=True)
    return seconds


def _check_gold(connection: duckdb.DuckDBPyConnection, catalog: Catalog, models: list[Model]) -> None:
    differences = []
    for model in models:
        if model.schema != "gold":
            continue
        [(direct,)] = connection.execute(f"SELECT count(*) FROM {model.relation}").fetchall()
        iceberg = current_row_count(catalog.load_table((model.schema, model.name)))
        if direct != iceberg:
            differences.append(f"{model.schema}.{model.name}: {direct} rows directly, {iceberg} in Iceberg")
    if differences:
        raise SystemExit("the floor does not compute what dbt built: " + "; ".join(differences))
