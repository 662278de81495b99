import pyarrow as pa
import pytest

from lakehouse.iceberg.commits import SchemaMismatchError, conform

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
