"""The batch: every asset, from extraction through gold, every night."""

import dagster as dg

from lakehouse.defs.logs import console_logging
from lakehouse.settings import load_settings


@dg.definitions
def medallion_jobs() -> dg.Definitions:
    medallion = dg.define_asset_job(
        "medallion",
        selection=dg.AssetSelection.all(),
        description="The batch: every bronze source (database, landing files, Kafka), then the dbt models through "
        "silver to gold, with every check.",
        config=console_logging(load_settings()),
    )
    daily_medallion = dg.ScheduleDefinition(
        name="daily_medallion",
        job=medallion,
        cron_schedule="0 2 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="The batch, extraction through gold, every night.",
    )
    return dg.Definitions(jobs=[medallion], schedules=[daily_medallion])
