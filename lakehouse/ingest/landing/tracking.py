"""Which landing files a bronze table took, and which are still to take.

Partners deliver files under ``<landing location>/<dataset>/`` (any depth below). A file's
identity is its path relative to the landing location. Every load records the paths it took,
loaded or quarantined, in its Iceberg commit (``lakehouse.landing-files``), and the files a table
knows are the union over its snapshot history, so a path delivered again is never read again.
A corrected file must therefore be delivered under a new name. Quarantined input goes under
``<landing location>/quarantine/``, beside the path it came from.
"""

import json

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.table import Table
from pyiceberg.table.snapshots import ancestors_of

from lakehouse.iceberg.commits import summary_key
from lakehouse.iceberg.declarations import LandingDeclaration
from lakehouse.ingest.landing.store import LandingFile, LandingStore

LANDING_FILES = "landing-files"
QUARANTINE = "quarantine"


def dataset_prefix(declaration: LandingDeclaration) -> str:
    return f"{declaration.landing.dataset}/"


def quarantine_path(path: str) -> str:
    return f"{QUARANTINE}/{path}"


def known_files(table: Table) -> set[str]:
    """Every landing path the table's history recorded as taken, loaded or quarantined."""
    key = summary_key(LANDING_FILES)
    known: set[str] = set()
    for snapshot in ancestors_of(table.current_snapshot(), table.metadata):
        if snapshot.summary is not None and key in snapshot.summary.additional_properties:
            known.update(json.loads(snapshot.summary.additional_properties[key]))
    return known


def known_landing_files(catalog: Catalog, declaration: LandingDeclaration) -> set[str]:
    """The paths the dataset's bronze table took; none before the table exists. Creates nothing."""
    try:
        return known_files(catalog.load_table(("bronze", declaration.table)))
    except NoSuchTableError:
        return set()


def pending_files(store: LandingStore, declaration: LandingDeclaration, known: set[str]) -> list[LandingFile]:
    """The dataset's files not yet taken, oldest first."""
    listed = store.list(dataset_prefix(declaration))
    return sorted((f for f in listed if f.path not in known), key=lambda f: (f.modified, f.path))
