"""Compaction: a partition's small data files rewritten into files near the target size.

A file counts as small below three quarters of the policy's target size (Iceberg's own rewrite
uses the same mark), and a partition is rewritten once it has the policy's ``min_input_files`` of
them. The rewrite is one commit that removes the small files and adds the new ones. It changes no
row: the new files are read back and must hold the same row count and checksum of every row's
content as the files they replace, or nothing is committed. It records the table's whole source
position, as a checkpoint does, so that nothing a load needs depends on the snapshots it follows.
A load that commits first makes the compaction start again from the new state: the load is
never lost.
"""

import itertools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pyarrow as pa
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan, _dataframe_to_data_files
from pyiceberg.table import FileScanTask, Table, TableProperties

from lakehouse.iceberg.commits import retry_on_conflict, summary_key
from lakehouse.iceberg.declarations import MaintenancePolicy
from lakehouse.maintenance.snapshots import current_lineage, position

SMALL_FRACTION = 0.75
COMPACTION = "compaction"


class ContentChangedError(Exception):
    """The rewritten files would not hold exactly the rows of the files they replace."""


def content_fingerprint(rows: pa.Table) -> tuple[int, int]:
    """The row count and an order-free checksum of every row's content."""
    connection = duckdb.connect()
    try:
        connection.register("fingerprinted_rows", rows)
        [(count, checksum)] = connection.sql("SELECT count(*), sum(hash(t)) FROM fingerprinted_rows AS t").fetchall()
    finally:
        connection.close()
    return int(count), int(checksum or 0)


@dataclass(frozen=True)
class FileStats:
    files: int
    bytes: int

    @classmethod
    def of(cls, tasks: list[FileScanTask]) -> "FileStats":
        return cls(len(tasks), sum(task.file.file_size_in_bytes for task in tasks))


@dataclass(frozen=True)
class Compaction:
    before: FileStats
    after: FileStats
    rewritten: int
    """Small files replaced; 0 when no partition had enough of them."""


def small_files_by_partition(tasks: list[FileScanTask], policy: MaintenancePolicy) -> list[list[FileScanTask]]:
    """The groups of small files to rewrite: per partition, once it has enough of them. Files with
    delete files are left alone: their rows are not what the file alone holds."""
    groups: dict[tuple[int, str], list[FileScanTask]] = defaultdict(list)
    for task in tasks:
        if not task.delete_files and task.file.file_size_in_bytes < policy.target_file_size * SMALL_FRACTION:
            groups[(task.file.spec_id, repr(task.file.partition))].append(task)
    return [group for group in groups.values() if len(group) >= policy.min_input_files]


def compact(table: Table, policy: MaintenancePolicy, *, after_reading: Callable[[], None] | None = None) -> Compaction:
    """Rewrite ``table``'s small files per ``policy``. ``after_reading`` runs once the rows to rewrite
    are read, before the commit (a test puts a competing load there)."""

    def attempt() -> Compaction:
        current = table.refresh()
        tasks = list(current.scan().plan_files())
        before = FileStats.of(tasks)
        groups = small_files_by_partition(tasks, policy)
        if not groups:
            return Compaction(before, before, rewritten=0)
        metadata = current.metadata
        # The writer cuts files at the table's target size: the policy's, for this rewrite.
        sized = metadata.model_copy(
            update={
                "properties": {
                    **metadata.properties,
                    TableProperties.WRITE_TARGET_FILE_SIZE_BYTES: str(policy.target_file_size),
                }
            }
        )
        scan = ArrowScan(metadata, current.io, metadata.schema(), AlwaysTrue())
        small = [task for group in groups for task in group]
        rows: pa.Table = scan.to_table(small)
        if after_reading is not None:
            after_reading()
        properties = position(current_lineage(current)) | {summary_key(COMPACTION): str(len(small))}
        with (
            current.transaction() as transaction,
            transaction.update_snapshot(snapshot_properties=properties).overwrite() as rewrite,
        ):
            for task in small:
                rewrite.delete_data_file(task.file)
            counter = itertools.count()
            written = list(_dataframe_to_data_files(sized, rows, current.io, rewrite.commit_uuid, counter))
            for data_file in written:
                data_file.spec_id = metadata.default_spec_id
            # Read back before the commit: a rewrite that lost or changed a row is never committed.
            read_back = content_fingerprint(scan.to_table([FileScanTask(data_file) for data_file in written]))
            if read_back != (replaced := content_fingerprint(rows)):
                raise ContentChangedError(
                    f"{'.'.join(current.name())}: the compacted files hold {read_back} (rows, checksum), "
                    f"not the {replaced} of the files they replace; nothing committed"
                )
            for data_file in written:
                rewrite.append_data_file(data_file)
        return Compaction(before, FileStats.of(list(table.refresh().scan().plan_files())), len(small))

    return retry_on_conflict(attempt)
