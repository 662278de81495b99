"""Orphan files: files under a table's location that none of its snapshots or metadata reference.

A load that crashed before its commit leaves its data files behind, and expired snapshots leave
theirs. Only files older than the policy's age are removed: a load in progress has written files
its commit does not reference yet.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from pyarrow import fs
from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.table import Table


@dataclass(frozen=True)
class OrphanRemoval:
    files: int
    bytes: int


def _path(io: PyArrowFileIO, location: str) -> str:
    return io.parse_location(location, io.properties)[2]


def referenced_files(table: Table) -> set[str]:
    """Every file the table's metadata reaches: metadata files, manifest lists, manifests, data
    and delete files of every snapshot it holds, and statistics files (filesystem paths)."""
    metadata, io = table.metadata, table.io
    locations = {table.metadata_location, *(entry.metadata_file for entry in metadata.metadata_log)}
    locations |= {statistics.statistics_path for statistics in metadata.statistics}
    locations |= {statistics.statistics_path for statistics in metadata.partition_statistics}
    for snapshot in metadata.snapshots:
        locations.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(io):
            locations.add(manifest.manifest_path)
            locations |= {
                entry.data_file.file_path for entry in manifest.fetch_manifest_entry(io, discard_deleted=False)
            }
    assert isinstance(io, PyArrowFileIO)
    return {_path(io, location) for location in locations}


def remove_orphan_files(table: Table, older_than: timedelta, now: datetime) -> OrphanRemoval:
    """Delete the files under the table's location that nothing references and that were last
    modified before ``now - older_than``."""
    io = table.io
    assert isinstance(io, PyArrowFileIO)
    scheme, netloc, root = io.parse_location(table.location(), io.properties)
    filesystem: fs.FileSystem = io.fs_by_scheme(scheme, netloc)
    keep = referenced_files(table)
    limit = now - older_than
    removed = OrphanRemoval(0, 0)
    for info in filesystem.get_file_info(fs.FileSelector(root, recursive=True, allow_not_found=True)):
        if info.type != fs.FileType.File or info.path in keep or info.mtime is None or info.mtime >= limit:
            continue
        filesystem.delete_file(info.path)
        removed = OrphanRemoval(removed.files + 1, removed.bytes + (info.size or 0))
    return removed
