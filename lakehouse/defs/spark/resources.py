"""The Spark session the Spark models run in, on the lakehouse's own Iceberg catalog."""

from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from dagster_pyspark import LazyPySparkResource
from pydantic import Field, PrivateAttr

from lakehouse.defs.resources import IcebergCatalogResource, iceberg_catalog
from lakehouse.settings import Settings, load_settings
from lakehouse.spark.jars import jar_paths
from lakehouse.spark.session import spark_config

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class SparkResource(dg.ConfigurableResource):
    """A SparkSession whose default catalog is the lakehouse's (`lakehouse.spark.session`), made by
    dagster-pyspark when a step first asks for it, so a run with nothing to compute starts no JVM,
    and stopped when the step ends."""

    master: str = Field(description="local[*], or a cluster's master URL (LAKEHOUSE_SPARK_MASTER)")
    driver_memory: str = Field(description="the driver's memory, all Spark has on local[*]")
    jars_dir: str = Field(description="where `make install` put Iceberg's and the JDBC drivers' jars")
    iceberg: IcebergCatalogResource
    _session: "SparkSession | None" = PrivateAttr(default=None)

    def spark_config(self) -> dict[str, str]:
        return spark_config(
            master=self.master,
            driver_memory=self.driver_memory,
            jars=jar_paths(Path(self.jars_dir)),
            catalog_name=self.iceberg.name,
            catalog=self.iceberg.properties(),
        )

    def session(self) -> "SparkSession":
        if self._session is None:
            self._session = LazyPySparkResource(spark_config=self.spark_config()).spark_session
        return self._session

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._session is not None:
            self._session.stop()
            self._session = None


def spark_resource(settings: Settings) -> SparkResource:
    return SparkResource(
        master=settings.spark_master,
        driver_memory=settings.spark_driver_memory,
        jars_dir=str(settings.spark_jars_dir),
        iceberg=iceberg_catalog(settings),
    )


@dg.definitions
def spark_resources() -> dg.Definitions:
    return dg.Definitions(resources={"spark": spark_resource(load_settings())})
