"""The data files of each table's current snapshot, remembered so that a query reads a table
without pyiceberg.

Loading a table through pyiceberg (importing it, opening the catalog through SQLAlchemy, reading
the metadata JSON, the manifest list and the manifests) takes most of a second; a query on a
gold table then reads a Parquet file or two. An Iceberg metadata file is never rewritten: every
commit writes a new one and points the catalog's row at it. So the files of the snapshot that a
metadata file makes current are remembered with its location, and they are right for exactly as
long as the catalog points there. A new snapshot is a new location, which the cache does not
hold: the table is read through pyiceberg again, and remembered anew. Nothing expires and
nothing needs invalidating, so no commit path has to know about this cache.

The catalog's current locations are read straight from its SQLite database, read-only: the rows
of pyiceberg's SqlCatalog table ``iceberg_tables``. Whatever cannot be read this way (a catalog on
PostgreSQL, one not created yet, an unknown schema, a cache file that does not parse) is a miss,
and pyiceberg opens the catalog as before.

Only the tables that DuckDB reads in place are remembered (`LocalEngine` remembers what
`attach_table` made a view of): local Parquet files without delete files, in a snapshot with
files. A cache file is one table's, replaced whole by a rename, so a reader never sees half of
one and the cache holds one entry per table, whatever the number of commits.

A hit reads neither the metadata file nor the manifests, so damage to those shows when the
table is next read through pyiceberg (a miss, or any writer); a lost or unreadable data file is
named as before, by DuckDB reading it.
"""

import json
import os
import sqlite3
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from lakehouse.iceberg import NAMESPACES

if TYPE_CHECKING:
    from lakehouse.settings import Settings

CACHE_DIRECTORY = "query-cache"
# pyiceberg's SqlCatalog marks tables so (other engines' views share its table); older catalogs leave it null.
CURRENT_LOCATIONS = (
    "SELECT table_namespace, table_name, metadata_location FROM iceberg_tables "
    "WHERE catalog_name = ? AND (iceberg_type = 'TABLE' OR iceberg_type IS NULL)"
)

Identifier = tuple[str, str]


@dataclass(frozen=True)
class SnapshotFiles:
    """The current files of the tables of the catalog named ``catalog_name`` in the SQLite database
    ``catalog_database``, remembered under ``directory``."""

    catalog_database: Path
    catalog_name: str
    directory: Path

    @classmethod
    def for_settings(cls, settings: "Settings") -> "SnapshotFiles | None":
        """The cache under the settings' home; None when their catalog is not in SQLite."""
        from lakehouse.settings import sqlite_path

        database = sqlite_path(settings.catalog_uri)
        if database is None:
            return None
        return cls(database, settings.catalog_name, settings.home / CACHE_DIRECTORY)

    def current_locations(self) -> dict[Identifier, str | None] | None:
        """Every table in the medallion's namespaces, in their order and then by name, with the location of
        its current metadata file; None when the catalog's database cannot be read here."""
        uri = f"{self.catalog_database.absolute().as_uri()}?mode=ro"
        try:
            with closing(sqlite3.connect(uri, uri=True)) as connection:
                rows = connection.execute(CURRENT_LOCATIONS, [self.catalog_name]).fetchall()
        except sqlite3.Error:
            return None
        order = {namespace: position for position, namespace in enumerate(NAMESPACES)}
        tables = sorted((order[namespace], name, location) for namespace, name, location in rows if namespace in order)
        return {(NAMESPACES[position], name): location for position, name, location in tables}

    def _path(self, identifier: Identifier) -> Path:
        return self.directory / f"{quote('.'.join((self.catalog_name, *identifier)), safe='')}.json"

    def files(self, identifier: Identifier, metadata_location: str) -> list[str] | None:
        """The local data files of the snapshot that ``metadata_location`` makes current, when remembered."""
        try:
            remembered = json.loads(self._path(identifier).read_text())
            location, files = remembered["metadata_location"], remembered["files"]
        except (OSError, ValueError, LookupError, TypeError):  # none yet, or not one this module wrote
            return None
        return [str(path) for path in files] if location == metadata_location and files else None

    def remember(self, identifier: Identifier, metadata_location: str, files: list[str]) -> None:
        """Remember ``files`` as the snapshot's that ``metadata_location`` makes current.

        A cache that cannot be written is left as it is: the query has its rows, and the next one
        reads the table through pyiceberg again.
        """
        path = self._path(identifier)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        except OSError:
            return
        try:
            with os.fdopen(descriptor, "w") as written:
                json.dump({"metadata_location": metadata_location, "files": files}, written)
            Path(temporary).replace(path)
        except OSError:
            Path(temporary).unlink(missing_ok=True)
