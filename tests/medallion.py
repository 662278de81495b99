"""Building the medallion in tests: the shared helpers, and one classic lakehouse per session."""

from dataclasses import dataclass

import dagster as dg
import pytest

from lakehouse.defs.database.assets import build_bronze_assets
from lakehouse.defs.medallion.assets import DBT_PROJECT_DIR, dbt_models
from lakehouse.defs.quality.checks import gold_reconciliation_check
from lakehouse.iceberg.declarations import bronze_declarations
from lakehouse.settings import Settings
from lakehouse_dev.generators.northwind.generator import parse_scale
from lakehouse_dev.generators.northwind.load import write_northwind
from tests.resources import resources_for

GOLD = ("daily_revenue", "revenue_by_country", "revenue_by_category", "sales_kpis", "customer_rfm",
        "customer_lifetime_value")  # fmt: skip


def materialize_medallion(
    settings: Settings, instance: dg.DagsterInstance | None = None, tags: dict[str, str] | None = None
) -> dg.ExecuteInProcessResult:
    models = dbt_models(DBT_PROJECT_DIR, settings.dbt_target)
    assets = [build_bronze_assets(bronze_declarations()), models, gold_reconciliation_check(models)]
    return dg.materialize(assets, resources=resources_for(settings), instance=instance, tags=tags, raise_on_error=False)


@dataclass(frozen=True)
class BuiltLakehouse:
    """The classic Northwind through gold, and the run that built it. Tests that use it only read."""

    settings: Settings
    run: dg.ExecuteInProcessResult


def build_classic_lakehouse(tmp_path_factory: pytest.TempPathFactory) -> BuiltLakehouse:
    settings = Settings(home=tmp_path_factory.mktemp("classic-lakehouse"))
    write_northwind(settings.source_url, parse_scale("classic"))
    return BuiltLakehouse(settings, materialize_medallion(settings))
