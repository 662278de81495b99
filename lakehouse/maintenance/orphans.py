"""Orphan files: files under a table's location that none of its snapshots or metadata reference.

A load that crashed before its commit leaves its data files behind, and expired snapshots leave
theirs. Only files older than the policy's age are removed: a load in progress has written files
its commit does not reference yet.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from pyarrow import fs
from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.manifest import ManifestFile
from pyiceberg.table import Table


@dataclass(frozen=True)
class OrphanRemoval:
    files: int
    bytes: int


def _path(io: PyArrowFileIO, location: str) -> str:
    return io.parse_location(location, io.properties)[2]


def referenced_files(table: Table) -> set[str]:
    """Every file the table's metadata reaches: metadata files, manifest lists, manifests, the data
    and delete files live in a snapshot it holds, and statistics files (filesystem paths)."""
    metadata, io = table.metadata, table.io
    locations = {table.metadata_location, *(entry.metadata_file for entry in metadata.metadata_log)}
    locations |= {statistics.statistics_path for statistics in metadata.statistics}
    locations |= {statistics.statistics_path for statistics in metadata.partition_statistics}
    manifests: dict[str, ManifestFile] = {}
    for snapshot in metadata.snapshots:
        locations.add(snapshot.manifest_list)
        # Snapshots share most of their manifests: each is read once.
        manifests |= {manifest.manifest_path: manifest for manifest in snapshot.manifests(io)}
    locations |= manifests.keys()
    for manifest in manifests.values():
        # A file a manifest lists as deleted is needed only by older snapshots, whose manifests list it live.
        locations |= {entry.data_file.file_path for entry in manifest.fetch_manifest_entry(io)}
    assert isinstance(io, PyArrowFileIO)
    return {_path(io, location) for location in locations}


def _filesystem(table: Table) -> tuple[fs.FileSystem, str]:
    """The table's filesystem and its location's path on it."""
    io = table.io
    assert isinstance(io, PyArrowFileIO)
    scheme, netloc, root = io.parse_location(table.location(), io.properties)
    return io.fs_by_scheme(scheme, netloc), root


def orphan_files(table: Table, older_than: timedelta, now: datetime) -> list[fs.FileInfo]:
    """The files under the table's location that nothing references and that were last modified
    before ``now - older_than``."""
    filesystem, root = _filesystem(table)
    keep = referenced_files(table)
    limit = now - older_than
    return [
        info
        for info in filesystem.get_file_info(fs.FileSelector(root, recursive=True, allow_not_found=True))
        if info.type == fs.FileType.File and info.path not in keep and info.mtime is not None and info.mtime < limit
    ]


def removal_of(files: list[fs.FileInfo]) -> OrphanRemoval:
    return OrphanRemoval(len(files), sum(info.size or 0 for info in files))


def remove_orphan_files(table: Table, older_than: timedelta, now: datetime) -> OrphanRemoval:
    """Delete the table's `orphan_files`."""
    filesystem, _ = _filesystem(table)
    orphans = orphan_files(table, older_than, now)
    for info in orphans:
        filesystem.delete_file(info.path)
    return removal_of(orphans)


def gone(table: Table, files: list[fs.FileInfo]) -> list[fs.FileInfo]:
    """Those of ``files`` no longer there."""
    filesystem, _ = _filesystem(table)
    found = filesystem.get_file_info([info.path for info in files])
    missing = {info.path for info in found if info.type == fs.FileType.NotFound}
    return [info for info in files if info.path in missing]
