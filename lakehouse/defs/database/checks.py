"""Data-quality checks on a bronze table, run right after each load."""

from dataclasses import dataclass

from pyiceberg.catalog import Catalog

from lakehouse.engine import LocalEngine
from lakehouse.iceberg.commits import current_row_count, recorded
from lakehouse.iceberg.declarations import LoadMode, TableDeclaration
from lakehouse.ingest.database.extract import CURSOR
from lakehouse.ingest.database.source import CursorRange, SourceDatabase

KEY_UNIQUE = "key_unique"
NOT_EMPTY = "not_empty"
RECONCILES_WITH_SOURCE = "reconciles_with_source"
CHECK_DESCRIPTIONS: dict[str, str] = {
    KEY_UNIQUE: "No two rows share the declared key (a warning: staging keeps each key's latest copy).",
    NOT_EMPTY: "The table has at least one row.",
    RECONCILES_WITH_SOURCE: "Row count equals the source rows up to the recorded position.",
}


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    description: str
    metadata: dict[str, int | str]
    warning: bool = False
    """Worth a look but not a failure: silver is still right."""


def _key_duplicates(catalog: Catalog, declaration: TableDeclaration) -> int:
    engine = LocalEngine(catalog, [("bronze", declaration.table)])
    try:
        key = ", ".join(f'"{column}"' for column in declaration.key)
        duplicates = engine.scalar(
            f'SELECT count(*) FROM (SELECT {key} FROM bronze."{declaration.table}" GROUP BY ALL HAVING count(*) > 1)'
        )
    finally:
        engine.close()
    return int(duplicates)


def _source_rows(source: SourceDatabase, declaration: TableDeclaration, cursor: str | None) -> int:
    table = declaration.source.table
    if declaration.source.load is LoadMode.FULL:
        return source.count(table)
    if cursor is None:
        return 0
    assert declaration.source.cursor is not None  # enforced by TableDeclaration validation
    return source.count(table, CursorRange(declaration.source.cursor, None, int(cursor)))


def check_bronze_table(catalog: Catalog, source: SourceDatabase, declaration: TableDeclaration) -> list[CheckOutcome]:
    table = catalog.load_table(("bronze", declaration.table))
    rows = current_row_count(table)
    duplicates = _key_duplicates(catalog, declaration) if rows else 0
    expected = _source_rows(source, declaration, recorded(table, CURSOR))
    return [
        CheckOutcome(
            KEY_UNIQUE,
            duplicates == 0,
            f"{duplicates} key value(s) of ({', '.join(declaration.key)}) occur more than once",
            {"duplicate_keys": duplicates},
            warning=True,
        ),
        CheckOutcome(NOT_EMPTY, rows > 0, f"{rows} row(s)", {"rows": rows}),
        CheckOutcome(
            RECONCILES_WITH_SOURCE,
            rows == expected,
            f"bronze has {rows} row(s), the source {expected} up to the recorded position",
            {"bronze_rows": rows, "source_rows": expected},
        ),
    ]
