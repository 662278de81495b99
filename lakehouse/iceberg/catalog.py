"""The shared Iceberg catalog: pyiceberg's SqlCatalog on SQLite (local) or PostgreSQL (stack)."""

from pathlib import Path

import sqlalchemy as sa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table

from lakehouse.iceberg.declarations import BronzeTableDeclaration, all_declarations
from lakehouse.settings import Settings

NAMESPACES: tuple[str, ...] = ("bronze", "silver", "gold")


def catalog_properties(settings: Settings) -> dict[str, str]:
    # Schema V1 of the JDBC catalog, the one Trino's Iceberg connector uses: an `iceberg_type`
    # column tells tables from views. pyiceberg creates new catalogs that way and migrates
    # catalogs an older pyiceberg created when asked to.
    properties = {"uri": settings.catalog_uri, "warehouse": settings.warehouse, "schema_version": "v1"}
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


def open_catalog(name: str, properties: dict[str, str], *, declared_tables: bool = True) -> SqlCatalog:
    """Open the catalog, creating if needed its tables, the bronze, silver and gold namespaces,
    and (with ``declared_tables``) every bronze table declared in `iceberg/`.

    Declared tables exist before their first load, so dbt models over a source that has not
    delivered anything yet (no landing file, no Kafka message) read an empty table. Creating
    them writes to the warehouse, which must be reachable by then.
    """
    _prepare_local_paths(properties)
    catalog = SqlCatalog(name, **properties)
    for namespace in NAMESPACES:
        catalog.create_namespace_if_not_exists(namespace)
    if not declared_tables:
        return catalog
    existing = {identifier[-1] for identifier in catalog.list_tables("bronze")}
    for declaration in all_declarations():
        if declaration.table not in existing:
            bronze_table(catalog, declaration)
    return catalog


def catalog_for(settings: Settings) -> SqlCatalog:
    """The catalog the settings name."""
    return open_catalog(settings.catalog_name, catalog_properties(settings))


# Loads record their source position in the commit and retry from a freshly read position
# themselves. pyiceberg's own retry would re-apply a conflicting append on top of the other
# writer's and load the same rows twice, so bronze tables turn it off.
POSITION_COMMIT_PROPERTIES = {"commit.retry.num-retries": "0"}


def bronze_table(catalog: SqlCatalog, declaration: BronzeTableDeclaration) -> Table:
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
