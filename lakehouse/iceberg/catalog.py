"""The shared Iceberg catalog: pyiceberg's SqlCatalog on SQLite (local) or PostgreSQL (stack)."""

from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.schema import Schema
from pyiceberg.table import Table

from lakehouse.iceberg import NAMESPACES
from lakehouse.iceberg.declarations import BronzeTableDeclaration, all_declarations
from lakehouse.settings import Settings

QUARANTINE_SUFFIX = "_quarantine"


def catalog_properties(
    *, uri: str, warehouse: str, s3_endpoint: str, s3_access_key: str, s3_secret_key: str, s3_region: str
) -> dict[str, str]:
    # Schema V1 of the JDBC catalog, the one Trino's Iceberg connector uses: an `iceberg_type`
    # column tells tables from views. pyiceberg creates new catalogs that way and migrates
    # catalogs an older pyiceberg created when asked to.
    properties = {"uri": uri, "warehouse": warehouse, "schema_version": "v1"}
    if warehouse.startswith("s3://"):
        properties |= {
            "s3.endpoint": s3_endpoint,
            "s3.access-key-id": s3_access_key,
            "s3.secret-access-key": s3_secret_key,
            "s3.region": s3_region,
        }
    return properties


def _prepare_local_paths(properties: dict[str, str]) -> None:
    catalog_url = sa.make_url(properties["uri"])
    if catalog_url.get_backend_name() == "sqlite" and catalog_url.database:
        Path(catalog_url.database).parent.mkdir(parents=True, exist_ok=True)
    if properties["warehouse"].startswith("file://"):
        Path(properties["warehouse"].removeprefix("file://")).mkdir(parents=True, exist_ok=True)


def open_catalog(name: str, properties: dict[str, str]) -> SqlCatalog:
    """Open the catalog. It creates no namespace and no table: a sensor may open it every tick."""
    _prepare_local_paths(properties)
    return SqlCatalog(name, **properties)


def catalog_for(settings: Settings) -> SqlCatalog:
    """The catalog the settings name."""
    return open_catalog(
        settings.catalog_name,
        catalog_properties(
            uri=settings.catalog_uri,
            warehouse=settings.warehouse,
            s3_endpoint=settings.s3_endpoint,
            s3_access_key=settings.s3_access_key,
            s3_secret_key=settings.s3_secret_key,
            s3_region=settings.s3_region,
        ),
    )


def catalog_tables(catalog: Catalog) -> list[tuple[str, str]]:
    """Every (namespace, table) in the bronze, silver and gold namespaces, in that order and then by
    name; none before the namespaces exist."""
    existing = {namespace[0] for namespace in catalog.list_namespaces()}
    return [
        (namespace, table)
        for namespace in NAMESPACES
        if namespace in existing
        for table in sorted(identifier[-1] for identifier in catalog.list_tables(namespace))
    ]


def current_snapshots(catalog: Catalog, tables: Iterable[str]) -> dict[str, str | None]:
    """The current snapshot id of each ``schema.table``; None for a table with none, or no table."""
    snapshots: dict[str, str | None] = {}
    for name in tables:
        try:
            snapshot = catalog.load_table(tuple(name.split("."))).current_snapshot()
        except NoSuchTableError:
            snapshot = None
        snapshots[name] = str(snapshot.snapshot_id) if snapshot is not None else None
    return snapshots


def create_namespace(catalog: Catalog, namespace: str) -> None:
    """Create ``namespace`` unless it exists, also when another writer creates it at the same time:
    pyiceberg's SqlCatalog reports that race as the database's integrity error, not as
    NamespaceAlreadyExistsError."""
    try:
        catalog.create_namespace_if_not_exists(namespace)
    except sa.exc.IntegrityError:
        if not catalog.namespace_exists(namespace):
            raise


def prepare_catalog(catalog: Catalog) -> list[str]:
    """Create the bronze, silver and gold namespaces and every bronze table declared in `iceberg/`
    that does not exist yet; returns the tables it created.

    Declared tables exist before their first load, so dbt models over a source that has not
    delivered anything yet (no landing file, no Kafka message) read an empty table. `lakehouse
    init` runs this, and so does every materialisation of the dbt models, before dbt starts.
    Creating tables writes to the warehouse, which must be reachable by then.
    """
    for namespace in NAMESPACES:
        create_namespace(catalog, namespace)
    existing = {identifier[-1] for identifier in catalog.list_tables("bronze")}
    missing = [d for d in all_declarations() if d.table not in existing]
    for declaration in all_declarations():
        if declaration in missing:
            bronze_table(catalog, declaration)
        else:
            with_declared_columns(catalog.load_table(("bronze", declaration.table)), declaration.iceberg_schema())
    return [f"bronze.{d.table}" for d in missing]


# Every lakehouse write decides what to commit from the table as it read it (a source position,
# the files a landing load took, the rows a model replaces) and, when another writer committed
# first, retries from a fresh read itself. pyiceberg's own retry would re-apply the stale commit
# on top of the other writer's: the same rows twice. So the lakehouse's tables turn it off.
OWN_RETRY_PROPERTIES = {"commit.retry.num-retries": "0"}


def with_properties(table: Table, properties: dict[str, str]) -> Table:
    """``table`` with ``properties`` set, committed only where they differ."""
    drifted = {key: value for key, value in properties.items() if table.properties.get(key) != value}
    if drifted:
        with table.transaction() as transaction:
            transaction.set_properties(drifted)
    return table


def with_declared_columns(table: Table, schema: Schema) -> Table:
    """``table`` with every column of ``schema`` it lacks added: a table made before a declaration
    (or a new version of the lakehouse) added lineage columns gains them, empty in its old rows."""
    known = set(table.schema().column_names)
    if missing := [field for field in schema.fields if field.name not in known]:
        with table.update_schema() as update:
            update.union_by_name(Schema(*missing))
    return table


def bronze_table(catalog: Catalog, declaration: BronzeTableDeclaration) -> Table:
    """The bronze table for ``declaration``: created on first use, its columns and properties kept
    as declared."""
    create_namespace(catalog, "bronze")
    schema = declaration.iceberg_schema()
    properties = declaration.properties | declaration.maintenance.snapshot_retention.table_properties
    properties |= OWN_RETRY_PROPERTIES
    table = catalog.create_table_if_not_exists(
        ("bronze", declaration.table),
        schema=schema,
        partition_spec=declaration.partition_spec(schema),
        sort_order=declaration.sort_order(schema),
        properties=properties,
    )
    return with_properties(with_declared_columns(table, schema), properties)


def quarantine_name(declaration: BronzeTableDeclaration) -> str:
    """The bronze table that keeps the source rows or messages of ``declaration``'s table that did not fit it."""
    return f"{declaration.table}{QUARANTINE_SUFFIX}"


def quarantine_table(catalog: Catalog, declaration: BronzeTableDeclaration, schema: Schema) -> Table:
    """``bronze.<table>_quarantine`` with ``schema``, created on first use."""
    return catalog.create_table_if_not_exists(
        ("bronze", quarantine_name(declaration)), schema=schema, properties=OWN_RETRY_PROPERTIES
    )


def model_table(catalog: Catalog, namespace: str, name: str, schema: pa.Schema) -> Table:
    """The Iceberg table of a dbt model: created with ``schema`` on its first build."""
    create_namespace(catalog, namespace)
    table = catalog.create_table_if_not_exists((namespace, name), schema=schema, properties=OWN_RETRY_PROPERTIES)
    return with_properties(table, OWN_RETRY_PROPERTIES)
