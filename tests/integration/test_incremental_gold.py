"""The gold aggregates kept incrementally on the embedded profile (dbt on DuckDB) equal a full rebuild."""

import dagster as dg
from pyiceberg.catalog.sql import SqlCatalog

from lakehouse.engine import engine_for
from lakehouse.ingest.database.source import SourceDatabase
from lakehouse.settings import Settings
from tests.incremental import check_incremental_equals_full
from tests.medallion import materialize_medallion


def test_incremental_gold_equals_a_full_rebuild_after_several_small_deliveries(
    settings: Settings, classic_source: SourceDatabase, catalog: SqlCatalog
) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        assert materialize_medallion(settings, instance).success
        check_incremental_equals_full(
            settings,
            catalog,
            lambda: engine_for(settings),
            lambda tags: materialize_medallion(settings, instance, tags),
        )
