from pathlib import Path

import pytest
from pyiceberg.types import DateType, IntegerType, StringType, TimestamptzType

from lakehouse.iceberg.declarations import DeclarationError, LoadMode, bronze_declarations, load_declaration
from lakehouse_dev.generators.northwind.schema import NORTHWIND_TABLES

VALID = """
table: things
source: {table: things, load: incremental, cursor: id}
key: [id]
columns:
  - {name: id, type: int, required: true}
  - {name: made_on, type: date}
partition_by:
  - {column: made_on, transform: month}
"""


def test_every_northwind_table_is_declared() -> None:
    declarations = {d.table: d for d in bronze_declarations()}
    assert set(declarations) == set(NORTHWIND_TABLES)
    assert declarations["orders"].source.load is LoadMode.INCREMENTAL
    assert declarations["order_details"].source.cursor == "order_id"
    assert declarations["categories"].source.load is LoadMode.FULL


def test_schema_adds_lineage_columns_and_spec_follows_declaration(tmp_path: Path) -> None:
    path = tmp_path / "things.yaml"
    path.write_text(VALID)
    declaration = load_declaration(path)
    schema = declaration.iceberg_schema()
    assert [f.name for f in schema.fields] == ["id", "made_on", "_ingested_at", "_source"]
    assert schema.find_field("id").field_type == IntegerType() and schema.find_field("id").required
    assert schema.find_field("made_on").field_type == DateType()
    assert schema.find_field("_ingested_at").field_type == TimestamptzType()
    assert schema.find_field("_source").field_type == StringType()
    spec = declaration.partition_spec(schema)
    assert [(f.name, str(f.transform)) for f in spec.fields] == [("made_on_month", "month")]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("key: [id]", "key: [nope]"), "key names undeclared column(s) nope"),
        (("type: date", "type: datetime"), "unknown Iceberg type 'datetime'"),
        (("transform: month", "transform: hourly"), "unknown partition transform 'hourly'"),
        (("cursor: id", "cursor: missing"), "source.cursor names undeclared column(s) missing"),
        (("load: incremental, cursor: id", "load: incremental"), "an incremental source needs a cursor column"),
        (("name: made_on", "name: _source"), "reserved for lineage"),
    ],
)
def test_a_bad_declaration_names_the_file_and_the_problem(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = tmp_path / "things.yaml"
    path.write_text(VALID.replace(*change))
    with pytest.raises(DeclarationError) as raised:
        load_declaration(path)
    assert str(path) in str(raised.value)
    assert message in str(raised.value)


def test_a_file_that_is_not_a_mapping_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(DeclarationError, match=r"broken\.yaml: expected a mapping"):
        load_declaration(path)
