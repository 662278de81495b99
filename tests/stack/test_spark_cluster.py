"""Spark on the stack: the JDBC catalog in PostgreSQL and the warehouse on MinIO (S3FileIO), on
`local[*]` and on a standalone cluster started from pyspark's own scripts, and Trino reading what
Spark committed."""

from collections.abc import Iterator

import dagster as dg
import pytest

from lakehouse.defs.medallion.plan import REBUILD_TAG
from lakehouse.defs.spark.assets import SPARK_MODELS
from lakehouse.engine import TrinoEngine
from lakehouse.iceberg.catalog import catalog_for
from lakehouse.settings import Settings
from lakehouse_dev.services.spark import SparkCluster, start_spark_cluster
from lakehouse_dev.services.stack import Stack
from tests.spark_models import assert_models_equal_duckdb, materialize_spark_models, model_table

pytestmark = pytest.mark.stack
REBUILD = {REBUILD_TAG: "true"}


@pytest.fixture(scope="module")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkCluster]:
    cluster = start_spark_cluster(tmp_path_factory.mktemp("spark-cluster"))
    yield cluster
    cluster.stop()


@pytest.mark.usefixtures("stack_medallion")
def test_a_standalone_cluster_computes_what_local_spark_does_and_trino_reads_it(
    running_stack: Stack, spark_cluster: SparkCluster
) -> None:
    settings = running_stack.settings
    catalog = catalog_for(settings)
    assert materialize_spark_models(settings, dg.DagsterInstance.ephemeral(), tags=REBUILD).success
    assert_models_equal_duckdb(catalog)
    on_local = {model.name: model_table(catalog, model) for model in SPARK_MODELS}

    on_cluster = Settings(**{**settings.model_dump(), "spark_master": spark_cluster.url})
    assert materialize_spark_models(on_cluster, dg.DagsterInstance.ephemeral(), tags=REBUILD).success
    assert spark_cluster.completed_applications() == 1
    engine = TrinoEngine(settings)
    try:
        for model in SPARK_MODELS:
            committed = model_table(catalog, model)
            assert committed.equals(on_local[model.name]), model.name
            read_by_trino = engine.query(f"SELECT * FROM gold.{model.name}")
            assert sorted(map(str, read_by_trino.to_pylist())) == sorted(map(str, committed.to_pylist())), model.name
    finally:
        engine.close()
