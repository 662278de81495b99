"""Jobs and the schedules that run them: the batch once a day, the speed layer every hour."""

import dagster as dg

from lakehouse.assets.bronze import bronze_selection
from lakehouse.assets.events import event_job_name
from lakehouse.iceberg.declarations import bronze_declarations, topic_declarations

bronze_extract_job = dg.define_asset_job(
    "bronze_extract",
    selection=bronze_selection(bronze_declarations()),
    description="Extract every Northwind table into its bronze Iceberg table.",
)

medallion_job = dg.define_asset_job(
    "medallion",
    selection=dg.AssetSelection.all(),
    description="The batch: every bronze source (database, landing files, Kafka), then the dbt models through "
    "silver to gold, with every check.",
)

daily_medallion = dg.ScheduleDefinition(
    name="daily_medallion",
    job=medallion_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="The batch, extraction through gold, every night.",
)

# The Kafka sensor brings events in as they arrive; this refresh catches up whatever it did not
# (the sensor stopped, the broker down for a while). It runs the sensor's own job, so the sensor
# waits for it rather than read the same offsets alongside it.
hourly_speed_layer = [
    dg.ScheduleDefinition(
        name=f"hourly_{declaration.table}",
        job_name=event_job_name(declaration),
        cron_schedule="5 * * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"The speed layer: new Kafka events into bronze.{declaration.table}, then the models built on "
        "them through gold, every hour.",
    )
    for declaration in topic_declarations()
]


def schedule_definitions() -> dg.Definitions:
    return dg.Definitions(jobs=[bronze_extract_job, medallion_job], schedules=[daily_medallion, *hourly_speed_layer])
