"""Dagster resources, built from the settings once per code-location load."""

from typing import Any

import dagster as dg
from pydantic import Field
from pyiceberg.catalog.sql import SqlCatalog

from lakehouse.iceberg.catalog import catalog_properties, open_catalog
from lakehouse.ingest.database.source import SourceDatabase
from lakehouse.settings import Settings


class IcebergCatalogResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The shared Iceberg catalog (pyiceberg SqlCatalog)."""

    name: str
    properties: dict[str, str]

    def catalog(self) -> SqlCatalog:
        return open_catalog(self.name, self.properties)


class SourceDatabaseResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The OLTP database bronze tables are extracted from, and how to read it."""

    url: str
    chunk_rows: int = Field(description="rows written per Parquet chunk; bounds extraction memory")
    concurrency: int = Field(description="source tables extracted at the same time")

    def database(self) -> SourceDatabase:
        return SourceDatabase(self.url)


def build_resources(settings: Settings) -> dict[str, Any]:
    return {
        "iceberg": IcebergCatalogResource(name=settings.catalog_name, properties=catalog_properties(settings)),
        "source_database": SourceDatabaseResource(
            url=settings.source_url, chunk_rows=settings.extract_chunk_rows, concurrency=settings.extract_concurrency
        ),
    }
