"""The Dagster code location. It only assembles: each area owns its definitions."""

import dagster as dg

from lakehouse.assets.bronze import bronze_definitions
from lakehouse.assets.events import event_asset_definitions
from lakehouse.assets.landing import landing_asset_definitions
from lakehouse.assets.medallion import medallion_definitions
from lakehouse.checks.gold import gold_check_definitions
from lakehouse.resources import build_resources
from lakehouse.schedules import schedule_definitions
from lakehouse.sensors.automation import automation_definitions
from lakehouse.sensors.events import event_sensor_definitions
from lakehouse.sensors.landing import landing_sensor_definitions
from lakehouse.settings import load_settings


@dg.definitions
def defs() -> dg.Definitions:
    settings = load_settings()
    return dg.Definitions.merge(
        bronze_definitions(),
        landing_asset_definitions(settings),
        event_asset_definitions(settings),
        medallion_definitions(settings),
        gold_check_definitions(),
        schedule_definitions(),
        landing_sensor_definitions(settings),
        event_sensor_definitions(settings),
        automation_definitions(settings),
        dg.Definitions(resources=build_resources(settings)),
    )
