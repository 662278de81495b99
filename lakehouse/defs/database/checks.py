"""Data-quality checks on a bronze table, run right after each load."""

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog

from lakehouse.engine import LocalEngine
from lakehouse.iceberg.catalog import quarantine_name
from lakehouse.iceberg.commits import current_row_count, recorded
from lakehouse.iceberg.declarations import CHANGE_SEQUENCE, COMMIT_LSN, OPERATION, LoadMode, TableDeclaration
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


def _bronze_scalar(catalog: Catalog, declaration: TableDeclaration, sql: str) -> int:
    engine = LocalEngine(catalog, [("bronze", declaration.table)])
    try:
        return int(engine.scalar(sql))
    finally:
        engine.close()


def _key_columns(declaration: TableDeclaration, captured: bool) -> str:
    # A captured table keeps every version of a key: one version per change is what must be unique.
    columns = [*declaration.key, COMMIT_LSN, CHANGE_SEQUENCE] if captured else declaration.key
    return ", ".join(f'"{column}"' for column in columns)


def _key_duplicates(catalog: Catalog, declaration: TableDeclaration, captured: bool) -> int:
    key, table = _key_columns(declaration, captured), f'bronze."{declaration.table}"'
    return _bronze_scalar(
        catalog, declaration, f"SELECT count(*) FROM (SELECT {key} FROM {table} GROUP BY ALL HAVING count(*) > 1)"
    )


def _live_keys(catalog: Catalog, declaration: TableDeclaration) -> int:
    """The keys whose latest version in a captured table is not a delete: the rows the source has."""
    key = ", ".join(f'"{column}"' for column in declaration.key)
    newest_first = f"{COMMIT_LSN} DESC, {CHANGE_SEQUENCE} DESC NULLS LAST"
    latest = f'''SELECT {OPERATION} FROM bronze."{declaration.table}"
        QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {newest_first}) = 1'''
    return _bronze_scalar(catalog, declaration, f"SELECT count(*) FROM ({latest}) WHERE {OPERATION} <> 'delete'")


def _source_rows(source: SourceDatabase, declaration: TableDeclaration, cursor: str | None) -> int:
    table = declaration.source.table
    if declaration.load_mode(source.kind) is not LoadMode.INCREMENTAL:
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
    if (
        rows + quarantined < expected
        and cursor is not None
        and declaration.load_mode(source.kind) is LoadMode.INCREMENTAL
    ):
        ranges = _missing_cursor_ranges(catalog, source, declaration, cursor)
        if ranges:
            metadata["missing_ranges"] = _spelled(ranges)
            description += (
                f"; {declaration.source.cursor} values missing from bronze: {_spelled(ranges)} "
                f"(`lakehouse backfill {declaration.table}` loads them)"
            )
    return CheckOutcome(RECONCILES_WITH_SOURCE, rows + quarantined == expected, description, metadata)


def _captured_reconciliation(catalog: Catalog, source: SourceDatabase, declaration: TableDeclaration) -> CheckOutcome:
    live, expected = _live_keys(catalog, declaration), source.count(declaration.source.table)
    description = (
        f"bronze holds {live} live key(s) (their latest change not a delete), the source {expected} row(s) now; "
        "changes committed after the load's bound wait for the next run"
    )
    metadata: dict[str, int | str] = {"live_keys": live, "source_rows": expected}
    return CheckOutcome(RECONCILES_WITH_SOURCE, live == expected, description, metadata, warning=True)


def check_bronze_table(catalog: Catalog, source: SourceDatabase, declaration: TableDeclaration) -> list[CheckOutcome]:
    table = catalog.load_table(("bronze", declaration.table))
    captured = declaration.load_mode(source.kind) is LoadMode.CDC
    rows = current_row_count(table)
    quarantined = quarantined_rows(catalog, declaration)
    duplicates = _key_duplicates(catalog, declaration, captured) if rows else 0
    reconciliation = (
        _captured_reconciliation(catalog, source, declaration)
        if captured
        else _reconciliation(catalog, source, declaration, rows, quarantined, recorded(table, CURSOR))
    )
    return [
        CheckOutcome(
            KEY_UNIQUE,
            duplicates == 0,
            f"{duplicates} value(s) of ({_key_columns(declaration, captured)}) occur more than once",
            {"duplicate_keys": duplicates},
            # Two copies of one change break exactly-once; two copies of a key are a backfill's.
            warning=not captured,
        ),
        CheckOutcome(NOT_EMPTY, rows > 0, f"{rows} row(s)", {"rows": rows}),
        reconciliation,
        CheckOutcome(
            NO_QUARANTINED_ROWS,
            quarantined == 0,
            f"{quarantined} source row(s) in bronze.{quarantine_name(declaration)}, with their key and reason",
            {"quarantined_rows": quarantined},
            warning=True,
        ),
    ]
