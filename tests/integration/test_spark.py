"""The Spark models on `local[*]` over the classic lakehouse's silver.sales_master: the figures plain
SQL in DuckDB computes, Iceberg tables the other engines read, rebuilt only when silver changed,
and checks that fail on a table that breaks them."""

from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pyiceberg.catalog import Catalog

from lakehouse.defs.medallion.plan import INPUTS, REBUILD_TAG, SNAPSHOT
from lakehouse.defs.spark.assets import SPARK_MODELS, check_results
from lakehouse.iceberg.catalog import catalog_for, create_namespace
from lakehouse.settings import Settings
from tests.medallion import BuiltLakehouse
from tests.spark_models import assert_models_equal_duckdb, materialize_spark_models

SALES_MASTER = ("silver", "sales_master")


@pytest.fixture
def spark_lakehouse(tmp_path: Path, classic_lakehouse: BuiltLakehouse) -> tuple[Settings, Catalog]:
    """A catalog holding the classic lakehouse's silver.sales_master, which it leaves as it is."""
    settings = Settings(home=tmp_path / "lakehouse")
    catalog = catalog_for(settings)
    for namespace in ("silver", "gold"):
        create_namespace(catalog, namespace)
    lines = catalog_for(classic_lakehouse.settings).load_table(SALES_MASTER).scan().to_arrow()
    catalog.create_table(SALES_MASTER, schema=lines.schema).append(lines)
    return settings, catalog


def gold_snapshots(catalog: Catalog) -> dict[str, int]:
    return {m.name: catalog.load_table(("gold", m.name)).current_snapshot().snapshot_id for m in SPARK_MODELS}


def test_spark_models_equal_plain_sql_and_record_their_snapshots(spark_lakehouse: tuple[Settings, Catalog]) -> None:
    settings, catalog = spark_lakehouse
    result = materialize_spark_models(settings, dg.DagsterInstance.ephemeral())

    assert_models_equal_duckdb(catalog)
    read = str(catalog.load_table(SALES_MASTER).current_snapshot().snapshot_id)
    for model in SPARK_MODELS:
        [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == model.key]
        metadata = event.materialization.metadata
        table = catalog.load_table(("gold", model.name))
        assert metadata[SNAPSHOT].value == str(table.current_snapshot().snapshot_id)
        assert metadata["dagster/row_count"].value == table.scan().count()
        assert metadata[INPUTS].value == {"silver.sales_master": read}
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == sum(len(model.checks) for model in SPARK_MODELS)
    assert all(evaluation.passed for evaluation in evaluations)


def test_a_rerun_computes_only_after_silver_changed(spark_lakehouse: tuple[Settings, Catalog]) -> None:
    settings, catalog = spark_lakehouse
    instance = dg.DagsterInstance.ephemeral()
    materialize_spark_models(settings, instance)
    snapshots = gold_snapshots(catalog)

    unchanged = materialize_spark_models(settings, instance)
    assert unchanged.get_asset_materialization_events() == []
    assert gold_snapshots(catalog) == snapshots

    # A customer's lines removed at the source: silver keeps them as `_removed`, the models drop them.
    sales_master = catalog.load_table(SALES_MASTER)
    lines = sales_master.scan().to_arrow()
    removed = pc.or_(pc.equal(lines["customer_id"], "ALFKI"), lines["_removed"])
    sales_master.overwrite(lines.set_column(lines.schema.get_field_index("_removed"), "_removed", removed))
    rebuilt = materialize_spark_models(settings, instance)
    assert len(rebuilt.get_asset_materialization_events()) == len(SPARK_MODELS)
    assert_models_equal_duckdb(catalog)

    forced = materialize_spark_models(settings, instance, tags={REBUILD_TAG: "true"})
    assert len(forced.get_asset_materialization_events()) == len(SPARK_MODELS)


@pytest.mark.bad_input
def test_the_checks_fail_on_a_table_that_breaks_them(spark_lakehouse: tuple[Settings, Catalog]) -> None:
    settings, catalog = spark_lakehouse
    materialize_spark_models(settings, dg.DagsterInstance.ephemeral())
    [cohorts] = [model for model in SPARK_MODELS if model.name == "customer_cohorts"]
    table = catalog.load_table(("gold", "customer_cohorts"))
    first = table.scan(limit=1).to_arrow()
    table.append(first.set_column(first.schema.get_field_index("retention"), "retention", pa.array([2.0])))

    results = {result.check_name: result for result in check_results(catalog, cohorts)}
    assert not results["retention_in_range"].passed
    assert results["retention_in_range"].metadata["violations"].value == 1
    assert results["first_month_keeps_everyone"].passed == (first["months_since_first"][0].as_py() != 0)
