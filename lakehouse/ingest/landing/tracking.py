"""Which landing files a bronze table took, and which are still to take.

Partners deliver files under ``<landing location>/<dataset>/`` (any depth below). A file's
identity is its path relative to the landing location. Every load records the paths it took,
loaded or quarantined, in its Iceberg commit (``lakehouse.landing-files``) with each file's size,
modification time and checksum (``lakehouse.landing-file-versions``: the S3 ETag, or the MD5 of
a local file), and the files a table knows are the union over its snapshot history, so a path
delivered again is never read again: a taken path whose content changes later is reported, and a
corrected file must be delivered under a new name. Quarantined input goes under
``<landing location>/quarantine/``, beside the path it came from.

A file is taken only once it is settled: its name is not hidden (``.x``, ``_x``) nor temporary
(``.tmp``, ``.part``, ...; see ``store.deliverable``), it has not changed for the settle time, and
its size and modification time are the same after it was read as when it was listed.
"""

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.table import Table
from pyiceberg.table.snapshots import ancestors_of

from lakehouse.iceberg.commits import summary_key
from lakehouse.iceberg.declarations import LandingDeclaration
from lakehouse.ingest.landing.store import LandingFile, LandingStore

LANDING_FILES = "landing-files"
LANDING_FILE_VERSIONS = "landing-file-versions"
QUARANTINE = "quarantine"
# Beside each quarantined input, whole or in part: why.
REASON_SUFFIX = ".reason.txt"


@dataclass(frozen=True)
class FileVersion:
    """A landing file's content as a load took it."""

    size: int
    modified: str
    """ISO 8601, as the store reported it."""
    checksum: str

    @classmethod
    def of(cls, listed: LandingFile, checksum: str) -> "FileVersion":
        return cls(listed.size, listed.modified.isoformat(), checksum)


@dataclass(frozen=True)
class ChangedFile:
    """A taken path whose content is no longer what its load read."""

    path: str
    taken: FileVersion
    now: LandingFile

    def describe(self) -> str:
        return (
            f"{self.path} changed after it was taken ({self.taken.size:,} bytes modified {self.taken.modified}, "
            f"now {self.now.size:,} bytes modified {self.now.modified.isoformat()}); its new content was not "
            f"loaded: deliver it under a new name"
        )


def dataset_prefix(declaration: LandingDeclaration) -> str:
    return f"{declaration.landing.dataset}/"


def quarantine_path(path: str) -> str:
    return f"{QUARANTINE}/{path}"


def taken_files(table: Table) -> dict[str, FileVersion | None]:
    """Every landing path the table's history recorded as taken, with its version where the commit kept it."""
    paths_key, versions_key = summary_key(LANDING_FILES), summary_key(LANDING_FILE_VERSIONS)
    taken: dict[str, FileVersion | None] = {}
    # Oldest first, so the version a path was first taken with is the one kept.
    for snapshot in reversed(list(ancestors_of(table.current_snapshot(), table.metadata))):
        properties = snapshot.summary.additional_properties if snapshot.summary is not None else {}
        versions = json.loads(properties.get(versions_key, "{}"))
        for path in json.loads(properties.get(paths_key, "[]")):
            if path not in taken or taken[path] is None:
                taken[path] = FileVersion(**versions[path]) if path in versions else None
    return taken


def known_files(table: Table) -> set[str]:
    """Every landing path the table's history recorded as taken, loaded or quarantined."""
    return set(taken_files(table))


def known_landing_files(catalog: Catalog, declaration: LandingDeclaration) -> set[str]:
    """The paths the dataset's bronze table took; none before the table exists. Creates nothing."""
    try:
        return known_files(catalog.load_table(("bronze", declaration.table)))
    except NoSuchTableError:
        return set()


def settled(listed: LandingFile, now: datetime, settle_seconds: float) -> bool:
    return listed.modified <= now - timedelta(seconds=settle_seconds)


def pending_files(
    store: LandingStore, declaration: LandingDeclaration, known: set[str], now: datetime, settle_seconds: float
) -> list[LandingFile]:
    """The dataset's settled files not yet taken, oldest first."""
    return unsettled_or_pending(store.list(dataset_prefix(declaration)), known, now, settle_seconds)[1]


def unsettled_or_pending(
    listed: Iterable[LandingFile], known: set[str], now: datetime, settle_seconds: float
) -> tuple[list[LandingFile], list[LandingFile]]:
    """The files not yet taken, split into those still settling and those ready, each oldest first."""
    settling: list[LandingFile] = []
    ready: list[LandingFile] = []
    for new in sorted((f for f in listed if f.path not in known), key=lambda f: (f.modified, f.path)):
        (ready if settled(new, now, settle_seconds) else settling).append(new)
    return settling, ready


def changed_files(listed: Iterable[LandingFile], taken: dict[str, FileVersion | None]) -> list[ChangedFile]:
    """Taken files whose content is no longer what the load read.

    On S3 the ETag tells. A local file counts as changed when its size or modification time
    does, even rewritten with the same bytes: telling would mean reading every taken file again.
    """
    changes = []
    for now in listed:
        version = taken.get(now.path)
        if version is None or (now.size, now.modified.isoformat()) == (version.size, version.modified):
            continue
        if now.etag is None or now.etag != version.checksum:
            changes.append(ChangedFile(now.path, version, now))
    return changes


def versions_json(versions: dict[str, FileVersion]) -> str:
    return json.dumps({path: asdict(version) for path, version in versions.items()}, sort_keys=True)
