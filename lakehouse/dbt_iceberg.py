"""The dbt-duckdb plugin that keeps every dbt model in the shared Iceberg catalog.

On each connection it shows the catalog's tables to DuckDB as ``bronze.x``, ``silver.x`` and
``gold.x``. When a model is built (``macros/iceberg.sql``), ``store`` streams the staged result
out of DuckDB as Arrow and commits it to the Iceberg table of the same name: a replacement for
tables, a merge on the model's ``unique_key`` for incremental runs (``iceberg/merge.py``). The DuckDB relation is then
pointed at the new snapshot, so downstream models read exactly what was committed.
"""

from typing import Any

import duckdb
import pyarrow as pa
from dbt.adapters.duckdb.plugins import BasePlugin
from dbt.adapters.duckdb.utils import TargetConfig
from pyiceberg.catalog.sql import SqlCatalog

from lakehouse.engine import attach_catalog, attach_table, quote
from lakehouse.iceberg.catalog import catalog_for, create_namespace
from lakehouse.iceberg.commits import commit_load, missing_columns
from lakehouse.iceberg.merge import merge_rows
from lakehouse.settings import load_settings

ARROW_BATCH_ROWS = 1_000_000
MODEL = "dbt-model"


class Plugin(BasePlugin):
    catalog: SqlCatalog
    connection: duckdb.DuckDBPyConnection

    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self.catalog = catalog_for(load_settings())

    def configure_connection(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.connection = conn
        attach_catalog(conn, self.catalog)

    def store(self, target_config: TargetConfig) -> None:
        assert target_config.location is not None  # the materialization always names the Iceberg table
        namespace, name = target_config.location.path.split(".")
        options: dict[str, Any] = target_config.config
        cursor = self.connection.cursor()
        try:
            staged = target_config.relation
            relation = f"{quote(str(staged.schema))}.{quote(str(staged.identifier))}"
            schema = cursor.sql(f"SELECT * FROM {relation}").limit(0).to_arrow_table().schema
            create_namespace(self.catalog, namespace)
            table = self.catalog.create_table_if_not_exists((namespace, name), schema=schema)
            position = {MODEL: f"{namespace}.{name}"}
            if options["mode"] == "merge":
                merge_rows(cursor, table, relation, list(options["unique_key"]), position)
            else:
                reader = cursor.sql(f"SELECT * FROM {relation}").fetch_record_batch(ARROW_BATCH_ROWS)
                batches = (pa.Table.from_batches([batch]) for batch in reader)
                commit_load(table, batches, position, replace=True, new_columns=missing_columns(table, schema))
            table.refresh()
            attach_table(cursor, table, namespace, name)
        finally:
            cursor.close()
