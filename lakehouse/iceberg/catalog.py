"""The shared Iceberg catalog: pyiceberg's SqlCatalog on SQLite (local) or PostgreSQL (stack)."""

from pathlib import Path

import sqlalchemy as sa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table

from lakehouse.iceberg.declarations import TableDeclaration
from lakehouse.settings import Settings

NAMESPACES: tuple[str, ...] = ("bronze", "silver", "gold")


def catalog_properties(settings: Settings) -> dict[str, str]:
    properties = {"uri": settings.catalog_uri, "warehouse": settings.warehouse}
    if settings.warehouse.startswith("s3://"):
        properties |= {
            "s3.endpoint": settings.s3_endpoint,
            "s3.access-key-id": settings.s3_access_key,
            "s3.secret-access-key": settings.s3_secret_key,
            "s3.region": settings.s3_region,
        }
    return properties


def _prepare_local_paths(properties: dict[str, str]) -> None:
    catalog_url = sa.make_url(properties["uri"])
    if catalog_url.get_backend_name() == "sqlite" and catalog_url.database:
        Path(catalog_url.database).parent.mkdir(parents=True, exist_ok=True)
    if properties["warehouse"].startswith("file://"):
        Path(properties["warehouse"].removeprefix("file://")).mkdir(parents=True, exist_ok=True)


def _add_view_type_column(catalog: SqlCatalog) -> None:
    """Give the catalog tables the shape Trino's JDBC catalog expects, whoever opens them first.

    Iceberg's JDBC catalog (schema V1, which Trino uses) keeps tables and views apart in an
    ``iceberg_type`` column that pyiceberg does not create. Trino would add it on first use; done
    here, the schema is the same from the start. pyiceberg leaves the column null, which V1 reads
    as a table.
    """
    columns = {column["name"] for column in sa.inspect(catalog.engine).get_columns("iceberg_tables")}
    if "iceberg_type" not in columns:
        with catalog.engine.begin() as connection:
            connection.execute(sa.text("ALTER TABLE iceberg_tables ADD COLUMN IF NOT EXISTS iceberg_type VARCHAR(5)"))


def open_catalog(name: str, properties: dict[str, str]) -> SqlCatalog:
    """Open the catalog, creating its tables and the bronze, silver and gold namespaces if needed."""
    _prepare_local_paths(properties)
    catalog = SqlCatalog(name, **properties)
    if catalog.engine.dialect.name == "postgresql":
        _add_view_type_column(catalog)
    for namespace in NAMESPACES:
        catalog.create_namespace_if_not_exists(namespace)
    return catalog


def catalog_for(settings: Settings) -> SqlCatalog:
    """The catalog the settings name."""
    return open_catalog(settings.catalog_name, catalog_properties(settings))


# Loads record their source position in the commit and retry from a freshly read position
# themselves. pyiceberg's own retry would re-apply a conflicting append on top of the other
# writer's and load the same rows twice, so bronze tables turn it off.
POSITION_COMMIT_PROPERTIES = {"commit.retry.num-retries": "0"}


def bronze_table(catalog: SqlCatalog, declaration: TableDeclaration) -> Table:
    """The bronze table for ``declaration``: created on first use, its properties kept as declared."""
    schema = declaration.schema()
    properties = declaration.properties | POSITION_COMMIT_PROPERTIES
    table = catalog.create_table_if_not_exists(
        ("bronze", declaration.table),
        schema=schema,
        partition_spec=declaration.partition_spec(schema),
        sort_order=declaration.sort_order(schema),
        properties=properties,
    )
    drifted = {key: value for key, value in properties.items() if table.properties.get(key) != value}
    if drifted:
        with table.transaction() as transaction:
            transaction.set_properties(drifted)
    return table
