"""The extraction of every Northwind table, on its own."""

import dagster as dg

from lakehouse.defs.bronze import bronze_key
from lakehouse.defs.database.checks import CHECK_DESCRIPTIONS
from lakehouse.defs.logs import console_logging
from lakehouse.iceberg.declarations import TableDeclaration, bronze_declarations
from lakehouse.settings import load_settings


def bronze_selection(declarations: tuple[TableDeclaration, ...]) -> dg.AssetSelection:
    """The database tables with the checks their extraction runs; dbt's source tests run with dbt."""
    checks = [dg.AssetCheckKey(bronze_key(d.table), name) for d in declarations for name in CHECK_DESCRIPTIONS]
    tables = dg.AssetSelection.assets(*(bronze_key(d.table) for d in declarations))
    return tables.without_checks() | dg.AssetSelection.checks(*checks)


@dg.definitions
def database_jobs() -> dg.Definitions:
    bronze_extract = dg.define_asset_job(
        "bronze_extract",
        selection=bronze_selection(bronze_declarations()),
        description="Extract every Northwind table into its bronze Iceberg table.",
        config=console_logging(load_settings()),
    )
    return dg.Definitions(jobs=[bronze_extract])
