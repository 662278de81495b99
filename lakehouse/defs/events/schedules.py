"""The hourly catch-up of the speed layer."""

import dagster as dg

from lakehouse.defs.bronze import to_gold_job_name
from lakehouse.iceberg.declarations import topic_declarations


@dg.definitions
def event_schedules() -> dg.Definitions:
    # The Kafka sensor brings events in as they arrive; this refresh catches up whatever it did not
    # (the sensor stopped, the broker down for a while). It runs the sensor's own job, so the sensor
    # waits for it rather than read the same offsets alongside it.
    return dg.Definitions(
        schedules=[
            dg.ScheduleDefinition(
                name=f"hourly_{declaration.table}",
                job_name=to_gold_job_name(declaration.table),
                cron_schedule="5 * * * *",
                execution_timezone="UTC",
                default_status=dg.DefaultScheduleStatus.RUNNING,
                description=f"The speed layer: new Kafka events into bronze.{declaration.table}, then the models "
                "built on them through gold, every hour.",
            )
            for declaration in topic_declarations()
        ]
    )
