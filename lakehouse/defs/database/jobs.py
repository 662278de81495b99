"""The extraction of every Northwind table, on its own; and, from a source whose changes are
captured, the run of its captured tables through gold that the change sensor requests."""

import dagster as dg
import sqlalchemy as sa

from lakehouse.defs.bronze import bronze_key, through_gold_job
from lakehouse.defs.database.checks import CHECK_DESCRIPTIONS
from lakehouse.defs.database.sensors import build_change_sensor
from lakehouse.defs.logs import console_logging
from lakehouse.iceberg.declarations import LoadMode, TableDeclaration, bronze_declarations
from lakehouse.settings import Settings, load_settings


def bronze_selection(declarations: tuple[TableDeclaration, ...]) -> dg.AssetSelection:
    """The database tables with the checks their extraction runs; dbt's source tests run with dbt."""
    checks = [dg.AssetCheckKey(bronze_key(d.table), name) for d in declarations for name in CHECK_DESCRIPTIONS]
    tables = dg.AssetSelection.assets(*(bronze_key(d.table) for d in declarations))
    return tables.without_checks() | dg.AssetSelection.checks(*checks)


def captured_declarations(settings: Settings) -> list[TableDeclaration]:
    """The tables the settings' source loads by change capture (none from SQLite)."""
    kind = sa.make_url(settings.source_url).get_backend_name()
    return [d for d in bronze_declarations() if d.load_mode(kind) is LoadMode.CDC]


@dg.definitions
def database_jobs() -> dg.Definitions:
    settings = load_settings()
    bronze_extract = dg.define_asset_job(
        "bronze_extract",
        selection=bronze_selection(bronze_declarations()),
        description="Extract every Northwind table into its bronze Iceberg table.",
        config=console_logging(settings),
    )
    if not (captured := captured_declarations(settings)):
        return dg.Definitions(jobs=[bronze_extract])
    changes_to_gold = through_gold_job(
        captured[0].table,
        "Capture the source's changes to its captured tables, then every model downstream of them.",
        *(d.table for d in captured[1:]),
    )
    return dg.Definitions(
        jobs=[bronze_extract, changes_to_gold],
        sensors=[build_change_sensor(captured, settings.sensor_interval_seconds)],
    )
