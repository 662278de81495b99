import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from lakehouse.iceberg.catalog import bronze_table
from lakehouse.iceberg.commits import SchemaMismatchError, commit_load, conform, recorded
from lakehouse.iceberg.declarations import load_declaration

TARGET = pa.schema(
    [pa.field("id", pa.int32(), nullable=False), pa.field("price", pa.float32()), pa.field("note", pa.string())]
)


def test_conform_casts_and_fills_absent_optional_columns() -> None:
    rows = pa.table({"price": pa.array([1.5, 2.25]), "id": pa.array([1, 2], pa.int64())})
    conformed = conform(rows, TARGET, "bronze.things")
    assert conformed.schema == TARGET
    assert conformed.to_pylist() == [{"id": 1, "price": 1.5, "note": None}, {"id": 2, "price": 2.25, "note": None}]


def test_conform_rejects_nulls_in_required_columns() -> None:
    rows = pa.table({"id": pa.array([1, None], pa.int64())})
    with pytest.raises(SchemaMismatchError, match=r"bronze.things: required column 'id' has 1 null value"):
        conform(rows, TARGET, "bronze.things")


def test_conform_names_a_column_whose_values_do_not_fit() -> None:
    rows = pa.table({"id": pa.array([1]), "price": pa.array(["cheap"])})
    with pytest.raises(SchemaMismatchError, match=r"column 'price' of type string does not fit float"):
        conform(rows, TARGET, "bronze.things")


def test_conform_requires_required_columns() -> None:
    with pytest.raises(SchemaMismatchError, match="required column 'id' is missing"):
        conform(pa.table({"price": pa.array([1.0])}), TARGET, "bronze.things")


def test_a_load_in_many_chunks_keeps_every_chunk(catalog: SqlCatalog) -> None:
    """Each chunk gets its own data file; the rows read back are the rows written, not the count in metadata."""
    schema = pa.schema([pa.field("id", pa.int64()), pa.field("note", pa.string())])
    table = catalog.create_table(("bronze", "chunked"), schema=schema)
    chunks = [
        pa.table({"id": list(range(start, start + 10)), "note": ["x"] * 10}, schema) for start in range(0, 50, 10)
    ]
    assert commit_load(table, iter(chunks), {"cursor": "49"}, replace=False) == 50
    table.refresh()
    paths = [task.file.file_path for task in table.scan().plan_files()]
    assert len(paths) == len(set(paths)) == 5
    assert sorted(table.scan().to_arrow()["id"].to_pylist()) == list(range(50))
    assert recorded(table, "cursor") == "49"

    replacement = [pa.table({"id": [7, 8], "note": ["y", "y"]}, schema)] * 2
    assert commit_load(table, iter(replacement), {"cursor": "8"}, replace=True) == 4
    table.refresh()
    assert sorted(table.scan().to_arrow()["id"].to_pylist()) == [7, 7, 8, 8]


def test_a_partitioned_table_takes_chunks_split_by_partition(catalog: SqlCatalog, tmp_path: Path) -> None:
    path = tmp_path / "events.yaml"
    path.write_text(
        "table: events\nsource: {table: events, load: full}\nkey: [id]\n"
        "columns:\n  - {name: id, type: int, required: true}\n  - {name: day, type: date}\n"
        "partition_by:\n  - {column: day, transform: month}\n"
    )
    table = bronze_table(catalog, load_declaration(path))
    days = [dt.date(2024, month, 1) for month in (1, 2, 3)]
    chunks = [pa.table({"id": pa.array([i, i + 10], pa.int32()), "day": [days[i], days[i]]}) for i in range(3)]
    assert commit_load(table, iter(chunks), {}, replace=False) == 6
    table.refresh()
    files = list(table.scan().plan_files())
    assert len({task.file.partition[0] for task in files}) == 3
    assert sorted(table.scan().to_arrow()["id"].to_pylist()) == [0, 1, 2, 10, 11, 12]
