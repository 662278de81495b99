"""Split incoming rows into those that fit a bronze table's declared columns and those that do not.

Landing files and Kafka messages arrive as loosely typed values (text, JSON numbers). A value fits
a column when Arrow's safe cast accepts it: no rounding, no truncation, timestamps with a zone
where the column has one. Rows that fit are returned cast to the declared types; the others are
returned as they came, with one readable reason per row, so the caller can quarantine them and
still load the rest.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.iceberg.declarations import BronzeTableDeclaration

REASON = "_reason"
# Failing columns are searched for their bad values in blocks, so one bad value in a million
# costs a few hundred casts rather than a million.
SEARCH_BLOCK = 4096


@dataclass(frozen=True)
class SplitRows:
    valid: pa.Table
    """The rows that fit, with the declared columns cast to their types, then the kept columns."""
    rejected: pa.Table
    """The rows that do not fit: the kept columns, the declared columns as text, and ``_reason``."""


def declared_schema(declaration: BronzeTableDeclaration) -> pa.Schema:
    """The Arrow schema of the declared columns, without the lineage columns."""
    schema = declaration.iceberg_schema().as_arrow()
    return pa.schema([schema.field(name) for name in declaration.column_names])


def _describe(value: object, field: pa.Field, error: Exception) -> str:
    reason = str(error).split("\n")[0]
    return f"{field.name}: {value!r} does not fit {field.type}: {reason}"


def _bad_values(column: pa.Array, field: pa.Field, start: int = 0) -> dict[int, str]:
    """Row index → reason for each value of ``column`` the cast to ``field.type`` refuses."""
    try:
        column.cast(field.type)
        return {}
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        if len(column) == 1:
            return {start: _describe(column[0].as_py(), field, error)}
    if len(column) <= SEARCH_BLOCK:
        found: dict[int, str] = {}
        for offset in range(len(column)):
            found |= _bad_values(column.slice(offset, 1), field, start + offset)
        return found
    middle = len(column) // 2
    return _bad_values(column.slice(0, middle), field, start) | _bad_values(column.slice(middle), field, start + middle)


def _column_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A rejected column as text: Arrow's cast where it has one, else each value as Python spells it."""
    try:
        return column.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.chunked_array([pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())])


def split_by_schema(rows: pa.Table, target: pa.Schema, keep: Sequence[str] = ()) -> SplitRows:
    """Split ``rows`` by whether they fit ``target``; the ``keep`` columns pass through unchanged.

    A column of ``target`` that ``rows`` lacks reads as null, so it only rejects rows where it is
    required. Columns that are in neither ``target`` nor ``keep`` are dropped.
    """
    reasons: defaultdict[int, list[str]] = defaultdict(list)
    typed: list[pa.ChunkedArray] = []
    for field in target:
        if field.name not in rows.column_names:
            if not field.nullable:
                for index in range(rows.num_rows):
                    reasons[index].append(f"{field.name}: required column is missing")
            typed.append(pa.chunked_array([pa.nulls(rows.num_rows, field.type)]))
            continue
        column = rows[field.name].combine_chunks()
        bad = _bad_values(column, field)
        for index, reason in bad.items():
            reasons[index].append(reason)
        if bad:
            column = pc.if_else(_mask(rows.num_rows, bad), pa.nulls(rows.num_rows, column.type), column)
        cast = column.cast(field.type)
        if not field.nullable and cast.null_count:
            for index in pc.indices_nonzero(pc.is_null(cast)).to_pylist():
                if index not in bad:
                    reasons[index].append(f"{field.name}: required value is missing")
        typed.append(pa.chunked_array([cast]))
    kept = [rows[name] for name in keep]
    valid = pa.Table.from_arrays([*typed, *kept], names=[*target.names, *keep])
    if not reasons:
        return SplitRows(valid, _rejected_schema(target, keep, rows).empty_table())
    failing = sorted(reasons)
    passing = pc.indices_nonzero(pc.invert(_mask(rows.num_rows, failing)))
    given = [
        rows[name].take(failing) if name in rows.column_names else pa.nulls(len(failing), pa.string())
        for name in target.names
    ]
    why = pa.array(["; ".join(reasons[index]) for index in failing], pa.string())
    rejected = pa.Table.from_arrays(
        [*(rows[name].take(failing) for name in keep), *(_column_text(pa.chunked_array([c])) for c in given), why],
        schema=_rejected_schema(target, keep, rows),
    )
    return SplitRows(valid.take(passing), rejected)


def _mask(length: int, indices: Sequence[int] | dict[int, str]) -> pa.BooleanArray:
    mask = np.zeros(length, dtype=bool)
    mask[list(indices)] = True
    return pa.array(mask)


def _rejected_schema(target: pa.Schema, keep: Sequence[str], rows: pa.Table) -> pa.Schema:
    return pa.schema(
        [rows.schema.field(name) for name in keep]
        + [pa.field(name, pa.string()) for name in target.names]
        + [pa.field(REASON, pa.string())]
    )
