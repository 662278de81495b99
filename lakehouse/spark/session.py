"""A Spark session's configuration on the lakehouse's own catalog.

The catalog is Iceberg's JDBC catalog on the same database pyiceberg's SqlCatalog uses (SQLite on
`local`, PostgreSQL on `stack`), under the same name, so Spark, pyiceberg, DuckDB and Trino see
one set of tables. The JDBC catalog's schema V1 is the one pyiceberg and Trino write.
"""

from collections.abc import Mapping, Sequence
from pathlib import Path

import sqlalchemy as sa

ICEBERG_EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
# pyiceberg's S3 properties that Iceberg's S3FileIO reads under the same name.
SHARED_S3_PROPERTIES = ("s3.endpoint", "s3.access-key-id", "s3.secret-access-key")


class SparkCatalogError(Exception):
    """The catalog's database is not one Spark's JDBC catalog can reach."""


def jdbc_connection(uri: str) -> dict[str, str]:
    """The JDBC catalog's properties for the SQLAlchemy URL ``uri`` of pyiceberg's catalog."""
    url = sa.make_url(uri)
    backend = url.get_backend_name()
    if backend == "sqlite" and url.database:
        return {"uri": f"jdbc:sqlite:{url.database}"}
    if backend == "postgresql" and url.database:
        query = "&".join(f"{key}={value}" for key, value in url.query.items())
        jdbc = f"jdbc:postgresql://{url.host or '127.0.0.1'}:{url.port or 5432}/{url.database}"
        connection = {"uri": f"{jdbc}?{query}" if query else jdbc}
        if url.username:
            connection["jdbc.user"] = url.username
        if url.password:
            connection["jdbc.password"] = url.password
        return connection
    raise SparkCatalogError(f"{url.render_as_string()}: Spark's JDBC catalog reads SQLite or PostgreSQL catalogs")


def catalog_config(name: str, properties: Mapping[str, str]) -> dict[str, str]:
    """Spark's configuration of the Iceberg catalog ``name`` that pyiceberg opens with ``properties``
    (`lakehouse.iceberg.catalog.catalog_properties`)."""
    catalog = {
        "": "org.apache.iceberg.spark.SparkCatalog",
        "type": "jdbc",
        "jdbc.schema-version": "V1",
        "warehouse": properties["warehouse"],
        # Other engines commit to the same tables: each query loads a table's current metadata.
        "cache-enabled": "false",
        **jdbc_connection(properties["uri"]),
    }
    if properties["warehouse"].startswith("s3://"):
        catalog |= {
            "io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
            "s3.path-style-access": "true",
            "client.region": properties["s3.region"],
            **{key: properties[key] for key in SHARED_S3_PROPERTIES},
        }
    prefix = f"spark.sql.catalog.{name}"
    return {f"{prefix}.{key}" if key else prefix: value for key, value in catalog.items()}


def spark_config(
    *, master: str, driver_memory: str, jars: Sequence[Path], catalog_name: str, catalog: Mapping[str, str]
) -> dict[str, str]:
    """The session's whole configuration: ``master``, the jars (on the driver's class path from its
    start, where JDBC finds its drivers, and shipped to a cluster's executors) and the catalog, the
    session's default."""
    return {
        "spark.master": master,
        "spark.app.name": "lakehouse",
        "spark.driver.memory": driver_memory,
        "spark.jars": ",".join(str(jar) for jar in jars),
        "spark.driver.extraClassPath": ":".join(str(jar) for jar in jars),
        "spark.sql.extensions": ICEBERG_EXTENSIONS,
        "spark.sql.defaultCatalog": catalog_name,
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "false",
        **catalog_config(catalog_name, catalog),
    }
