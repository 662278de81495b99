"""The dbt-duckdb plugin that keeps every dbt model in the shared Iceberg catalog.

On each connection it shows the catalog's tables to DuckDB as ``bronze.x``, ``silver.x`` and
``gold.x``. When a model is built (``macros/iceberg.sql``), ``store`` streams the staged result
out of DuckDB as Arrow and commits it to the Iceberg table of the same name (``iceberg/models.py``):
a replacement for tables, a merge on the model's ``unique_key`` for incremental runs. The DuckDB
relation is then pointed at the new snapshot, so downstream models read exactly what was committed.
"""

from typing import Any

import duckdb
from dbt.adapters.duckdb.plugins import BasePlugin
from dbt.adapters.duckdb.utils import TargetConfig
from pyiceberg.catalog.sql import SqlCatalog

from lakehouse.engine import attach_catalog, attach_table, literal, quote
from lakehouse.iceberg.catalog import catalog_for
from lakehouse.iceberg.models import store_model
from lakehouse.settings import load_settings

# Where DuckDB spills what does not fit its memory limit (dbt/profiles.yml), under LAKEHOUSE_HOME.
SPILL_DIRECTORY = "duckdb-spill"


class Plugin(BasePlugin):
    catalog: SqlCatalog
    connection: duckdb.DuckDBPyConnection

    def initialize(self, plugin_config: dict[str, Any]) -> None:
        settings = load_settings()
        self.catalog = catalog_for(settings)
        self.spill_directory = settings.home / SPILL_DIRECTORY
        self.spill_directory_set = False

    def configure_connection(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.connection = conn
        # Every connection shares one in-memory database, whose spill directory is set once,
        # before anything spilled: DuckDB refuses to move it afterwards.
        if not self.spill_directory_set:
            conn.execute(f"SET temp_directory = {literal(str(self.spill_directory))}")
            self.spill_directory_set = True
        attach_catalog(conn, self.catalog, damaged_fail_when_read=True)

    def store(self, target_config: TargetConfig) -> None:
        assert target_config.location is not None  # the materialization always names the Iceberg table
        namespace, name = target_config.location.path.split(".")
        options: dict[str, Any] = target_config.config
        staged = target_config.relation
        cursor = self.connection.cursor()
        try:
            relation = f"{quote(str(staged.schema))}.{quote(str(staged.identifier))}"
            unique_key = list(options["unique_key"]) if options["mode"] == "merge" else None
            table = store_model(self.catalog, cursor, relation, (namespace, name), unique_key)
            attach_table(cursor, table, namespace, name)
        finally:
            cursor.close()
