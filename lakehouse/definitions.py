"""The Dagster code location. It only assembles: each area owns its definitions."""

import dagster as dg

from lakehouse.assets.bronze import bronze_definitions
from lakehouse.assets.medallion import medallion_definitions
from lakehouse.checks.gold import gold_check_definitions
from lakehouse.resources import build_resources
from lakehouse.schedules import schedule_definitions
from lakehouse.settings import load_settings


@dg.definitions
def defs() -> dg.Definitions:
    settings = load_settings()
    return dg.Definitions.merge(
        bronze_definitions(),
        medallion_definitions(settings),
        gold_check_definitions(),
        schedule_definitions(),
        dg.Definitions(resources=build_resources(settings)),
    )
