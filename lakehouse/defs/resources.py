"""The resources every domain shares: the Iceberg catalog, and how to reach S3.

Secrets and connection URLs set in the environment reach resources as ``dg.EnvVar``, so the
Dagster UI shows the variable's name, never its value (`Settings.configured`). A value left to
the profile's default is a public one (a path under LAKEHOUSE_HOME, the harness's development
credentials) and is passed as it is.
"""

from typing import Annotated

import dagster as dg
from pydantic import Field
from pyiceberg.catalog.sql import SqlCatalog

from lakehouse.iceberg.catalog import catalog_properties, open_catalog
from lakehouse.settings import Settings, load_settings

# Every bronze load cuts its rows into chunks of this size, each its own Parquet data file, so
# the one setting LAKEHOUSE_EXTRACT_CHUNK_ROWS bounds the memory of them all.
ChunkRows = Annotated[
    int, Field(gt=0, description="rows per Parquet chunk and data file (LAKEHOUSE_EXTRACT_CHUNK_ROWS); bounds memory")
]


class S3Connection(dg.Config):
    """An S3 endpoint and its credentials: MinIO on `stack`, unused when every location is `file://`."""

    endpoint: str
    access_key: str
    secret_key: str
    region: str


class IcebergCatalogResource(dg.ConfigurableResource):
    """The shared Iceberg catalog (pyiceberg SqlCatalog). Opening it creates no table."""

    name: str
    uri: str = Field(description="SQLAlchemy URL of the catalog database (SQLite on `local`, PostgreSQL on `stack`)")
    warehouse: str = Field(description="file:// or s3:// location of the tables' data and metadata")
    s3: S3Connection

    def properties(self) -> dict[str, str]:
        """pyiceberg's properties of the catalog; Spark's catalog is configured from them too."""
        return catalog_properties(
            uri=self.uri,
            warehouse=self.warehouse,
            s3_endpoint=self.s3.endpoint,
            s3_access_key=self.s3.access_key,
            s3_secret_key=self.s3.secret_key,
            s3_region=self.s3.region,
        )

    def catalog(self) -> SqlCatalog:
        return open_catalog(self.name, self.properties())


def secret(settings: Settings, name: str) -> str | dg.EnvVar:
    """The setting ``name`` as ``dg.EnvVar`` where the environment set it, else its public default."""
    variable = settings.variable_for(name)
    return dg.EnvVar(variable) if settings.configured(name) else str(getattr(settings, name))


def s3_connection(settings: Settings) -> S3Connection:
    return S3Connection(
        endpoint=settings.s3_endpoint,
        access_key=secret(settings, "s3_access_key"),
        secret_key=secret(settings, "s3_secret_key"),
        region=settings.s3_region,
    )


def iceberg_catalog(settings: Settings) -> IcebergCatalogResource:
    return IcebergCatalogResource(
        name=settings.catalog_name,
        uri=secret(settings, "catalog_uri"),
        warehouse=settings.warehouse,
        s3=s3_connection(settings),
    )


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"iceberg": iceberg_catalog(load_settings())})
