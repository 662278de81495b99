"""The Spark models in tests: materialised in process, and compared with the same figures computed
by plain SQL in DuckDB (`lakehouse_dev.spark_reference`)."""

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pyiceberg.catalog import Catalog

from lakehouse.defs.spark.assets import SPARK_MODELS, SparkModel, build_spark_models
from lakehouse.settings import Settings
from lakehouse_dev.spark_reference import REFERENCE_SQL
from tests.resources import resources_for

KEYS = {
    "product_affinity": ["antecedent_product_id", "consequent_product_id"],
    "customer_cohorts": ["cohort_month", "months_since_first"],
}


def materialize_spark_models(
    settings: Settings, instance: dg.DagsterInstance, tags: dict[str, str] | None = None
) -> dg.ExecuteInProcessResult:
    return dg.materialize([build_spark_models()], resources=resources_for(settings), instance=instance, tags=tags)


def sorted_rows(rows: pa.Table, model: SparkModel) -> pa.Table:
    return rows.sort_by([(key, "ascending") for key in KEYS[model.name]])


def model_table(catalog: Catalog, model: SparkModel) -> pa.Table:
    return sorted_rows(catalog.load_table(("gold", model.name)).scan().to_arrow(), model)


def reference_table(sales_master: pa.Table, model: SparkModel) -> pa.Table:
    # DuckDB reads the Arrow table by its variable's name, `sales_master`.
    return sorted_rows(duckdb.sql(REFERENCE_SQL[model.name]).to_arrow_table(), model)


def assert_same_figures(actual: pa.Table, expected: pa.Table, label: str) -> None:
    """Equal column by column; the ratios (doubles) to 1e-12, as two engines may sum in another order."""
    assert actual.column_names == expected.column_names, label
    assert actual.num_rows == expected.num_rows > 0, label
    for name in actual.column_names:
        left, right = actual[name], expected[name].cast(actual.schema.field(name).type)
        if pa.types.is_floating(left.type):
            assert pc.max(pc.abs(pc.subtract(left, right))).as_py() == pytest.approx(0, abs=1e-12), (label, name)
        else:
            assert left.equals(right), (label, name)


def assert_models_equal_duckdb(catalog: Catalog) -> None:
    sales_master = catalog.load_table(("silver", "sales_master")).scan().to_arrow()
    for model in SPARK_MODELS:
        expected = reference_table(sales_master, model)
        assert_same_figures(model_table(catalog, model), expected, model.name)
