"""Keys a landing dataset's bronze table holds more than once, with the files that delivered them.

Two copies of a key are normal (a corrected file delivered under a new name, a partner that sent
a line twice): staging keeps the latest delivery. This report lets a data team see them.
"""

from dataclasses import dataclass

import duckdb
import pyarrow as pa
from pyiceberg.table import Table

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
    if table.current_snapshot() is None:
        return DuplicateKeys(0, 0, [])
    rows: pa.Table = table.scan(selected_fields=(*declaration.key, SOURCE_FILE)).to_arrow()
    key = ", ".join(f'"{column}"' for column in declaration.key)
    with duckdb.connect() as connection:
        connection.register("delivered", rows)
        connection.execute(
            f"CREATE TEMP TABLE repeated AS SELECT {key}, count(*) AS copies, "
            f'list(DISTINCT "{SOURCE_FILE}" ORDER BY "{SOURCE_FILE}") AS files '
            f"FROM delivered GROUP BY ALL HAVING count(*) > 1"
        )
        [(keys, copies)] = connection.sql("SELECT count(*), coalesce(sum(copies - 1), 0) FROM repeated").fetchall()
        examples = connection.sql(f"SELECT * FROM repeated ORDER BY {key} LIMIT {EXAMPLES_SHOWN}").to_arrow_table()
    return DuplicateKeys(int(keys), int(copies), examples.to_pylist())
