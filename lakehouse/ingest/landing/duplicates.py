"""Keys a landing dataset's bronze table holds more than once, with the files that delivered them.

Two copies of a key are normal (a corrected file delivered under a new name, a partner that sent
a line twice): staging keeps the latest delivery. This report lets a data team see them.
"""

from dataclasses import dataclass

import duckdb
import pyarrow as pa
from pyiceberg.table import Table

from lakehouse.engine import literal
from lakehouse.iceberg.declarations import SOURCE_FILE, LandingDeclaration

EXAMPLES_SHOWN = 20


@dataclass(frozen=True)
class DuplicateKeys:
    keys: int
    """How many keys have more than one copy."""
    copies: int
    """Rows beyond the first copy of each key."""
    examples: list[dict[str, object]]
    """Up to ``EXAMPLES_SHOWN`` keys with their copies and the files that delivered them."""


def duplicate_keys(table: Table, declaration: LandingDeclaration) -> DuplicateKeys:
    """The keys held more than once. Only the key columns of the whole table are read; the files of
    the few keys shown come from a second, filtered scan, so memory stays near the keys' own size."""
    if table.current_snapshot() is None:
        return DuplicateKeys(0, 0, [])
    key = ", ".join(f'"{column}"' for column in declaration.key)
    with duckdb.connect() as connection:
        connection.register("held", table.scan(selected_fields=tuple(declaration.key)).to_arrow())
        connection.execute(f"CREATE TEMP TABLE repeated AS SELECT {key}, count(*) AS copies FROM held GROUP BY ALL "
                           "HAVING count(*) > 1")  # fmt: skip
        connection.unregister("held")
        [(keys, copies)] = connection.sql("SELECT count(*), coalesce(sum(copies - 1), 0) FROM repeated").fetchall()
        shown = connection.sql(f"SELECT * FROM repeated ORDER BY {key} LIMIT {EXAMPLES_SHOWN}").to_arrow_table()
        if not keys:
            return DuplicateKeys(0, 0, [])
        connection.register("shown", shown)
        connection.register("files", _files_of(table, declaration, shown))
        examples = connection.sql(
            f'SELECT shown.*, list(DISTINCT files."{SOURCE_FILE}" ORDER BY files."{SOURCE_FILE}") AS files '
            f"FROM shown JOIN files USING ({key}) GROUP BY ALL ORDER BY {key}"
        ).to_arrow_table()
    return DuplicateKeys(int(keys), int(copies), examples.to_pylist())


def _files_of(table: Table, declaration: LandingDeclaration, keys: pa.Table) -> pa.Table:
    """The rows (key and source file) of ``keys``: a filter on their values, which the data files'
    column statistics prune by."""
    each = (
        "(" + " AND ".join(f"{column} = {_sql_literal(row[column])}" for column in declaration.key) + ")"
        for row in keys.select(declaration.key).to_pylist()
    )
    return table.scan(row_filter=" OR ".join(each), selected_fields=(*declaration.key, SOURCE_FILE)).to_arrow()


def _sql_literal(value: object) -> str:
    return str(value) if isinstance(value, int) else literal(str(value))
