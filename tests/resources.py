"""Every resource of the code location, for a given `Settings` rather than the environment."""

import dagster as dg

from lakehouse.defs.database.resources import source_database
from lakehouse.defs.events.resources import kafka_resource
from lakehouse.defs.landing.resources import landing_store_resource
from lakehouse.defs.maintenance.resources import table_maintenance
from lakehouse.defs.medallion.resources import dbt_cli
from lakehouse.defs.resources import iceberg_catalog
from lakehouse.defs.spark.resources import spark_resource
from lakehouse.settings import Settings


def resources_for(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    return {
        "iceberg": iceberg_catalog(settings),
        "source_database": source_database(settings),
        "landing": landing_store_resource(settings),
        "kafka": kafka_resource(settings),
        "dbt": dbt_cli(settings),
        "table_maintenance": table_maintenance(settings),
        "spark": spark_resource(settings),
    }
