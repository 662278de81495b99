"""Silver and gold follow bronze: the dbt models' automation conditions, evaluated by a sensor.

The sensors for landing files and Kafka request their bronze load together with the models
downstream of it, which is the quickest way to gold. The automation conditions cover every
other way bronze changes: a run of `bronze_extract`, a load materialised by hand.
"""

import dagster as dg

from lakehouse.settings import load_settings


@dg.definitions
def medallion_sensors() -> dg.Definitions:
    settings = load_settings()
    return dg.Definitions(
        sensors=[
            dg.AutomationConditionSensorDefinition(
                "medallion_automation",
                target=dg.AssetSelection.all(),
                minimum_interval_seconds=settings.sensor_interval_seconds,
                default_status=dg.DefaultSensorStatus.RUNNING,
                description="Materialises silver and gold models when the bronze tables they read change.",
            )
        ]
    )
