"""Jobs and the schedules that run them."""

import dagster as dg

from lakehouse.assets.bronze import bronze_selection
from lakehouse.iceberg.declarations import bronze_declarations

bronze_extract_job = dg.define_asset_job(
    "bronze_extract",
    selection=bronze_selection(bronze_declarations()),
    description="Extract every Northwind table into its bronze Iceberg table.",
)

medallion_job = dg.define_asset_job(
    "medallion",
    selection=dg.AssetSelection.all(),
    description="Bronze extraction, then the dbt models through silver to gold, with every check.",
)

daily_bronze_extract = dg.ScheduleDefinition(
    name="daily_bronze_extract",
    job=bronze_extract_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


def schedule_definitions() -> dg.Definitions:
    return dg.Definitions(jobs=[bronze_extract_job, medallion_job], schedules=[daily_bronze_extract])
