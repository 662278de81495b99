"""The OLTP database the bronze tables are extracted from."""

import dagster as dg
from pydantic import Field

from lakehouse.defs.resources import ChunkRows, secret
from lakehouse.ingest.database.source import SourceDatabase
from lakehouse.settings import Settings, load_settings


class SourceDatabaseResource(dg.ConfigurableResource):
    """The OLTP database bronze tables are extracted from, and how to read it."""

    url: str = Field(description="SQLAlchemy URL of the source database (SQLite or PostgreSQL)")
    chunk_rows: ChunkRows
    concurrency: int = Field(description="source tables extracted at the same time")

    def database(self) -> SourceDatabase:
        return SourceDatabase(self.url)


def source_database(settings: Settings) -> SourceDatabaseResource:
    return SourceDatabaseResource(
        url=secret(settings, "source_url"),
        chunk_rows=settings.extract_chunk_rows,
        concurrency=settings.extract_concurrency,
    )


@dg.definitions
def database_resources() -> dg.Definitions:
    return dg.Definitions(resources={"source_database": source_database(load_settings())})
