"""Data-quality checks on a bronze table, run right after each load."""

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog

from lakehouse.engine import LocalEngine
from lakehouse.iceberg.catalog import quarantine_name
from lakehouse.iceberg.commits import current_row_count, recorded
from lakehouse.iceberg.declarations import LoadMode, TableDeclaration
from lakehouse.ingest.database.extract import CURSOR
from lakehouse.ingest.database.quarantine import quarantined_rows
from lakehouse.ingest.database.source import CursorRange, SourceDatabase

RANGES_SHOWN = 20
KEY_UNIQUE = "key_unique"
NOT_EMPTY = "not_empty"
RECONCILES_WITH_SOURCE = "reconciles_with_source"
NO_QUARANTINED_ROWS = "no_quarantined_rows"
CHECK_DESCRIPTIONS: dict[str, str] = {
    KEY_UNIQUE: "No two rows share the declared key (a warning: staging keeps each key's latest copy).",
    NOT_EMPTY: "The table has at least one row.",
    RECONCILES_WITH_SOURCE: "Rows loaded plus rows quarantined equal the source rows up to the recorded position.",
    NO_QUARANTINED_ROWS: "No source row was quarantined for not fitting the declared columns (a warning).",
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


def missing_ranges(source_values: Sequence[int], loaded_values: Sequence[int]) -> list[tuple[int, int]]:
    """The runs of ``source_values`` (in order) that ``loaded_values`` lacks, as (first, last) pairs."""
    ordered = pa.array(sorted(set(source_values)), pa.int64())
    missing = pc.invert(pc.is_in(ordered, value_set=pa.array(loaded_values, pa.int64()))).to_pylist()
    ranges: list[tuple[int, int]] = []
    for value, absent, previous_absent in zip(ordered.to_pylist(), missing, [False, *missing], strict=False):
        if absent and previous_absent:
            ranges[-1] = (ranges[-1][0], value)
        elif absent:
            ranges.append((value, value))
    return ranges


def _spelled(ranges: list[tuple[int, int]]) -> str:
    shown = ", ".join(str(first) if first == last else f"{first}-{last}" for first, last in ranges[:RANGES_SHOWN])
    return shown + (f" and {len(ranges) - RANGES_SHOWN} more range(s)" if len(ranges) > RANGES_SHOWN else "")


def _missing_cursor_ranges(
    catalog: Catalog, source: SourceDatabase, declaration: TableDeclaration, cursor: str
) -> list[tuple[int, int]]:
    column = declaration.source.cursor
    assert column is not None  # an incremental table has a cursor
    in_source = source.read(declaration.source.table, [column], CursorRange(column, None, int(cursor))).read_all()
    engine = LocalEngine(catalog, [("bronze", declaration.table)])
    try:
        loaded = engine.query(f'SELECT DISTINCT "{column}" FROM bronze."{declaration.table}"')
    finally:
        engine.close()
    return missing_ranges(in_source[column].to_pylist(), loaded[column].to_pylist())


def _reconciliation(
    catalog: Catalog,
    source: SourceDatabase,
    declaration: TableDeclaration,
    rows: int,
    quarantined: int,
    cursor: str | None,
) -> CheckOutcome:
    expected = _source_rows(source, declaration, cursor)
    metadata: dict[str, int | str] = {"bronze_rows": rows, "quarantined_rows": quarantined, "source_rows": expected}
    description = (
        f"bronze has {rows} row(s) and its quarantine {quarantined}, the source {expected} up to the recorded position"
    )
    if rows + quarantined < expected and cursor is not None and declaration.source.load is LoadMode.INCREMENTAL:
        ranges = _missing_cursor_ranges(catalog, source, declaration, cursor)
        if ranges:
            metadata["missing_ranges"] = _spelled(ranges)
            description += (
                f"; {declaration.source.cursor} values missing from bronze: {_spelled(ranges)} "
                f"(`lakehouse backfill {declaration.table}` loads them)"
            )
    return CheckOutcome(RECONCILES_WITH_SOURCE, rows + quarantined == expected, description, metadata)


def check_bronze_table(catalog: Catalog, source: SourceDatabase, declaration: TableDeclaration) -> list[CheckOutcome]:
    table = catalog.load_table(("bronze", declaration.table))
    rows = current_row_count(table)
    quarantined = quarantined_rows(catalog, declaration)
    duplicates = _key_duplicates(catalog, declaration) if rows else 0
    return [
        CheckOutcome(
            KEY_UNIQUE,
            duplicates == 0,
            f"{duplicates} key value(s) of ({', '.join(declaration.key)}) occur more than once",
            {"duplicate_keys": duplicates},
            warning=True,
        ),
        CheckOutcome(NOT_EMPTY, rows > 0, f"{rows} row(s)", {"rows": rows}),
        _reconciliation(catalog, source, declaration, rows, quarantined, recorded(table, CURSOR)),
        CheckOutcome(
            NO_QUARANTINED_ROWS,
            quarantined == 0,
            f"{quarantined} source row(s) in bronze.{quarantine_name(declaration)}, with their key and reason",
            {"quarantined_rows": quarantined},
            warning=True,
        ),
    ]
