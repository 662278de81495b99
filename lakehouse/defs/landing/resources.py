"""The landing location partners deliver files to."""

import dagster as dg
from pydantic import Field

from lakehouse.defs.resources import ChunkRows, S3Connection, s3_connection
from lakehouse.ingest.landing.store import LandingStore, open_landing_store
from lakehouse.settings import Settings, load_settings


class LandingStoreResource(dg.ConfigurableResource):
    """The landing location partners deliver files to: a directory or an S3 bucket."""

    location: str = Field(description="file:///directory or s3://bucket/prefix")
    s3: S3Connection
    chunk_rows: ChunkRows
    settle_seconds: float = Field(default=0.0, description="a file is taken once unchanged for this long")

    def store(self) -> LandingStore:
        return open_landing_store(
            self.location, self.s3.endpoint, self.s3.access_key, self.s3.secret_key, self.s3.region
        )


def landing_store_resource(settings: Settings) -> LandingStoreResource:
    return LandingStoreResource(
        location=settings.landing,
        s3=s3_connection(settings),
        chunk_rows=settings.extract_chunk_rows,
        settle_seconds=settings.landing_settle_seconds,
    )


@dg.definitions
def landing_resources() -> dg.Definitions:
    return dg.Definitions(resources={"landing": landing_store_resource(load_settings())})
