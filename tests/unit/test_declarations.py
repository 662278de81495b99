from datetime import timedelta
from pathlib import Path

import pytest
from pyiceberg.types import DateType, IntegerType, StringType, TimestamptzType

from lakehouse.iceberg.declarations import (
    CHANGE_COLUMNS,
    DeclarationError,
    LoadMode,
    MaintenancePolicy,
    TableDeclaration,
    bronze_declarations,
    load_declaration,
    topic_declarations,
)
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
    assert declarations["orders"].load_mode("postgresql") is LoadMode.CDC
    assert declarations["orders"].load_mode("sqlite") is LoadMode.INCREMENTAL
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


def test_a_table_captured_on_postgresql_carries_its_change_in_every_profile(tmp_path: Path) -> None:
    path = tmp_path / "things.yaml"
    path.write_text(VALID.replace("load: incremental", "load: {postgresql: cdc, sqlite: incremental}"))
    declaration = load_declaration(path)
    assert isinstance(declaration, TableDeclaration)
    names = [f.name for f in declaration.iceberg_schema().fields]
    assert names == ["id", "made_on", "_ingested_at", "_source", *(name for name, _, _ in CHANGE_COLUMNS)]
    assert declaration.load_mode("postgresql") is LoadMode.CDC


def test_cdc_on_sqlite_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "things.yaml"
    path.write_text(VALID.replace("load: incremental", "load: cdc"))
    declaration = load_declaration(path)
    assert isinstance(declaration, TableDeclaration)
    assert declaration.load_mode("postgresql") is LoadMode.CDC
    with pytest.raises(DeclarationError, match=rf"{path}: source.load is cdc but a sqlite source has no change log"):
        declaration.load_mode("sqlite")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("load: incremental", "load: {sqlite: cdc}"), "a sqlite source has no change log"),
        (("load: incremental", "load: {oracle: cdc}"), "source.load"),
        (("key: [id]", "key: [nope]"), "key names undeclared column(s) nope"),
        (("type: date", "type: datetime"), "unknown Iceberg type 'datetime'"),
        (("transform: month", "transform: hourly"), "unknown partition transform 'hourly'"),
        (("cursor: id", "cursor: missing"), "source.cursor names undeclared column(s) missing"),
        (("load: incremental, cursor: id", "load: incremental"), "an incremental source needs a cursor column"),
        (("name: made_on", "name: _source"), "reserved for lineage"),
        (("key: [id]", "key: [id]\nmaintenance: {target_file_size: 128MB}"), "'128MB' is not a size"),
        (("key: [id]", "key: [id]\nmaintenance: {orphan_file_age: 3 days}"), "'3 days' is not a duration"),
        (("key: [id]", "key: [id]\nmaintenance: {snapshot_retention: {keep_last: 0}}"), "greater than or equal to 1"),
        (
            ("key: [id]", "key: [id]\nproperties: {history.expire.min-snapshots-to-keep: '3'}"),
            "come from the maintenance policy: declare them as maintenance.snapshot_retention",
        ),
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


def test_maintenance_policies_parse_sizes_and_durations_and_default_the_rest() -> None:
    [events] = topic_declarations()
    policy = events.maintenance
    assert policy.target_file_size == 64 * 2**20 and policy.min_input_files == 10
    assert policy.snapshot_retention.max_age == timedelta(days=2) and policy.snapshot_retention.keep_last == 20
    assert policy.orphan_file_age == timedelta(days=1)
    customers = next(d for d in bronze_declarations() if d.table == "customers")
    assert customers.maintenance == MaintenancePolicy()
    assert customers.maintenance.snapshot_retention.max_age == timedelta(days=7)


def test_snapshot_retention_is_written_as_icebergs_own_table_properties() -> None:
    orders = next(d for d in bronze_declarations() if d.table == "orders")
    assert orders.maintenance.snapshot_retention.table_properties == {
        "history.expire.max-snapshot-age-ms": str(7 * 24 * 3600 * 1000),
        "history.expire.min-snapshots-to-keep": "20",
    }


def test_a_declaration_written_as_json_reads_back_the_same() -> None:
    [events] = topic_declarations()
    assert type(events).model_validate_json(events.model_dump_json()) == events
