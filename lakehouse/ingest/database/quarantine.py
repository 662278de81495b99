"""Source rows that do not fit their bronze table's declared columns, kept in ``bronze.<table>_quarantine``.

A value the declared type cannot hold (text in a number column, a missing required value) sends
its row here with its key and the reason, and the rest of the table loads. Each row is kept
once: a load retried after a crash, or a backfill over the same keys, finds the key already
there. Fixing the row in the source and running `lakehouse backfill <table>` loads it.
"""

import json
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.schema import Schema
from pyiceberg.types import NestedField, StringType, TimestamptzType

from lakehouse.iceberg.catalog import quarantine_name, quarantine_table
from lakehouse.iceberg.commits import commit_load, current_row_count
from lakehouse.iceberg.declarations import INGESTED_AT, TableDeclaration
from lakehouse.ingest.chunks import with_lineage
from lakehouse.ingest.rows import REASON

KEY = "_key"
ROW = "_row"
QUARANTINE_SCHEMA = Schema(
    NestedField(1, KEY, StringType(), required=True, doc="the row's key columns and values as text, as JSON"),
    NestedField(2, ROW, StringType(), required=True, doc="every value of the row as it came, as JSON text"),
    NestedField(3, REASON, StringType(), required=True, doc="why the row was not loaded"),
    NestedField(4, INGESTED_AT, TimestamptzType(), required=True, doc="when the load that quarantined it started"),
)


def quarantined_rows(catalog: Catalog, declaration: TableDeclaration) -> int:
    """The rows ``bronze.<table>_quarantine`` holds; 0 before it exists. Creates nothing."""
    try:
        table = catalog.load_table(("bronze", quarantine_name(declaration)))
    except NoSuchTableError:
        return 0
    return current_row_count(table)


def _records(rejected: pa.Table, declaration: TableDeclaration) -> pa.Table:
    rows = rejected.drop_columns([REASON]).to_pylist()
    keys = [json.dumps({name: row.get(name) for name in declaration.key}, default=str) for row in rows]
    values = [json.dumps(row, default=str, ensure_ascii=False) for row in rows]
    return pa.table({KEY: keys, ROW: values, REASON: rejected[REASON]})


def quarantine(
    catalog: Catalog,
    declaration: TableDeclaration,
    rejected: list[pa.Table],
    ingested_at: datetime,
    position: dict[str, str],
    *,
    replace: bool,
) -> int:
    """Keep the ``rejected`` rows (as `split_by_schema` returns them) not quarantined yet; all of them, replacing
    the others, for a whole-table load. Returns the rows added."""
    table = quarantine_table(catalog, declaration, QUARANTINE_SCHEMA)
    records = pa.concat_tables([_records(rows, declaration) for rows in rejected]) if rejected else None
    if not replace and table.current_snapshot() is not None and records is not None:
        held = table.scan(selected_fields=(KEY,)).to_arrow()[KEY]
        records = records.filter(pc.invert(pc.is_in(records[KEY], value_set=held.combine_chunks())))
    if records is None or (records.num_rows == 0 and not replace):
        return 0
    commit_load(table, [with_lineage(records, ingested_at)], position, replace=replace)
    return int(records.num_rows)
