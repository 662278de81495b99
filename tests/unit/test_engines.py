"""The query engines that need no server: DuckDB over a real catalog, which reads only the tables a query
names and remembers their current files, Trino's column types in Arrow, and the error when Trino is down."""

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from lakehouse.engine import (
    DUCKDB_AS_ARROW,
    DamagedTableError,
    LocalEngine,
    MissingTableError,
    QueryError,
    Records,
    TrinoEngine,
    _arrow_type,
    _records,
    engine_for,
    named_tables,
)
from lakehouse.iceberg.commits import commit_load
from lakehouse.iceberg.snapshot_files import SnapshotFiles
from lakehouse.security.stack_files import prepare_security
from lakehouse.settings import Profile, Settings, SettingsError
from lakehouse_dev.services.process import free_port
from lakehouse_dev.services.stack import trino_environment


@pytest.mark.parametrize(
    ("trino_type", "arrow_type"),
    [
        ("decimal(18,2)", pa.decimal128(18, 2)),
        ("decimal(38, 4)", pa.decimal128(38, 4)),
        ("varchar", pa.string()),
        ("varchar(40)", pa.string()),
        ("bigint", pa.int64()),
        ("date", pa.date32()),
        ("timestamp(6)", pa.timestamp("us")),
        ("timestamp(3) with time zone", pa.timestamp("us", tz="UTC")),
        ("array(varchar)", None),
    ],
)
def test_trino_types_map_to_arrow(trino_type: str, arrow_type: pa.DataType | None) -> None:
    assert _arrow_type(trino_type) == arrow_type


def test_money_keeps_its_scale_through_the_mapping() -> None:
    money = pa.array([Decimal("1.50"), None], type=_arrow_type("decimal(18,2)"))
    assert money.to_pylist() == [Decimal("1.50"), None]


def test_the_profile_picks_the_engine(tmp_path) -> None:
    local = engine_for(Settings(home=tmp_path))
    assert isinstance(local, LocalEngine)
    local.close()
    stack = Settings(home=tmp_path, profile=Profile.STACK)
    prepare_security(stack)
    assert isinstance(engine_for(stack), TrinoEngine)


@pytest.mark.bad_input
def test_a_trino_that_is_not_running_is_a_clear_error(tmp_path) -> None:
    port = free_port()
    settings = Settings(home=tmp_path, profile=Profile.STACK, trino_port=port)
    prepare_security(settings)
    engine = TrinoEngine(settings)
    with pytest.raises(QueryError, match=rf"Trino at https://127.0.0.1:{port} is not reachable .* `make services-up`"):
        engine.query("SELECT 1")


@pytest.mark.bad_input
def test_a_missing_certificate_authority_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(
        SettingsError, match=r"LAKEHOUSE_TRINO_CA_FILE: .*/security/ca.pem does not exist; `lakehouse init`"
    ):
        TrinoEngine(Settings(home=tmp_path, profile=Profile.STACK))


def test_trino_reads_the_catalog_pyiceberg_writes(tmp_path) -> None:
    settings = Settings(
        home=tmp_path, profile=Profile.STACK, catalog_uri="postgresql+psycopg://keeper:secret@db.internal:6543/iceberg"
    )
    environment = trino_environment(settings)
    assert environment["LAKEHOUSE_TRINO_CATALOG_JDBC_URL"] == "jdbc:postgresql://db.internal:6543/iceberg"
    assert environment["LAKEHOUSE_TRINO_CATALOG_JDBC_USER"] == "keeper"
    assert environment["LAKEHOUSE_TRINO_CATALOG_JDBC_PASSWORD"] == "secret"
    assert environment["LAKEHOUSE_CATALOG_NAME"] == settings.catalog_name
    assert environment["LAKEHOUSE_WAREHOUSE"] == "s3://warehouse/"


@pytest.fixture
def engine(catalog: SqlCatalog) -> Iterator[LocalEngine]:
    engine = LocalEngine(catalog)
    yield engine
    engine.close()


@pytest.fixture
def damaged(catalog: SqlCatalog) -> Path:
    """gold.damaged, written in two commits, and gold.intact; returns the data file of gold.damaged's second commit."""
    for name in ("damaged", "intact"):
        table = catalog.create_table(("gold", name), schema=pa.schema([("n", pa.int64())]))
        table.append(pa.table({"n": [1, 2]}))
        table.append(pa.table({"n": [3]}))
    table = catalog.load_table(("gold", "damaged"))
    first = table.snapshots()[0].snapshot_id
    files = {task.file.file_path for task in table.scan().plan_files()}
    (second,) = files - {task.file.file_path for task in table.scan(snapshot_id=first).plan_files()}
    return Path(second.removeprefix("file://"))


def missing_file_error(path: Path) -> str:
    return (
        f"table gold.damaged cannot be read: its data file {path} is missing from the warehouse; "
        "rebuild it with `lakehouse materialize --job medallion --rebuild`, restore the file from a backup, "
        "or roll the table back to an earlier snapshot "
        "(pyiceberg: `table.manage_snapshots().rollback_to_snapshot(id)`) for the next run to bring it up to date"
    )


@pytest.mark.parametrize(
    ("sql", "tables"),
    [
        ("SELECT 1", set()),
        ("WITH t AS (SELECT 1) SELECT * FROM t", set()),
        (
            "SELECT * FROM gold.x JOIN bronze.y USING (a) WHERE b IN (SELECT b FROM silver.z)",
            {("gold", "x"), ("bronze", "y"), ("silver", "z")},
        ),
        ('SELECT * FROM "GOLD"."Sales_KPIs" AS k; DESCRIBE silver.s', {("gold", "sales_kpis"), ("silver", "s")}),
        ("SELEC nonsense", set()),
        ("COPY (SELECT * FROM gold.x) TO 'x.csv'", None),
    ],
)
def test_the_tables_a_statement_names(sql: str, tables: set[tuple[str, str]] | None) -> None:
    with duckdb.connect() as connection:
        assert named_tables(connection, sql) == tables


@pytest.mark.bad_input
def test_a_missing_data_file_fails_only_the_queries_on_its_table(engine: LocalEngine, damaged: Path) -> None:
    damaged.unlink()
    assert engine.scalar("SELECT 1") == 1
    assert engine.scalar("SELECT sum(n) FROM gold.intact") == 6
    with pytest.raises(DamagedTableError) as raised:
        engine.query("SELECT count(*) FROM gold.damaged JOIN gold.intact USING (n)")
    assert str(raised.value) == missing_file_error(damaged)
    assert engine.scalar("SELECT count(*) FROM gold.intact") == 3


@pytest.mark.bad_input
def test_the_advice_for_a_missing_file_works(catalog: SqlCatalog, damaged: Path) -> None:
    damaged.unlink()
    table = catalog.load_table(("gold", "damaged"))
    table.manage_snapshots().rollback_to_snapshot(table.snapshots()[0].snapshot_id).commit()
    engine = LocalEngine(catalog)
    assert engine.scalar("SELECT sum(n) FROM gold.damaged") == 3
    engine.close()


@pytest.mark.bad_input
def test_a_data_file_lost_after_the_table_was_attached_names_its_table(engine: LocalEngine, damaged: Path) -> None:
    assert engine.scalar("SELECT sum(n) FROM gold.damaged") == 6
    damaged.unlink()
    with pytest.raises(DamagedTableError) as raised:
        engine.query("SELECT sum(n) FROM gold.damaged")
    assert str(raised.value) == missing_file_error(damaged)


@pytest.mark.bad_input
def test_an_unreadable_data_file_is_named_with_the_reason(engine: LocalEngine, damaged: Path) -> None:
    damaged.write_bytes(b"not parquet")
    with pytest.raises(
        DamagedTableError, match=rf"table gold.damaged cannot be read: its data file {damaged} is unreadable \(.+\); "
    ):
        engine.query("SELECT * FROM gold.damaged")


def test_a_query_error_that_is_not_about_a_file_stays_the_engines(engine: LocalEngine, damaged: Path) -> None:
    with pytest.raises(QueryError, match="nope") as raised:
        engine.query("SELECT nope FROM gold.damaged")
    assert not isinstance(raised.value, DamagedTableError)


@pytest.mark.bad_input
def test_a_table_the_catalog_does_not_hold_is_named(engine: LocalEngine) -> None:
    with pytest.raises(MissingTableError, match=r"^no table gold.nope, silver.gone in the catalog$"):
        engine.query("SELECT * FROM gold.nope, silver.gone, bronze.orders")


# One value or more of each type DuckDB's own conversion serves, with their edge values.
DUCKDB_VALUES = {
    "tinyint": ["(-128)::TINYINT", "127::TINYINT"],
    "smallint": ["(-32768)::SMALLINT"],
    "integer": ["2147483647::INTEGER"],
    "bigint": ["(-9223372036854775808)::BIGINT"],
    "utinyint": ["255::UTINYINT"],
    "usmallint": ["65535::USMALLINT"],
    "uinteger": ["4294967295::UINTEGER"],
    "ubigint": ["18446744073709551615::UBIGINT"],
    "float": ["0.1::FLOAT", "3.4e38::FLOAT", "'nan'::FLOAT"],
    "double": ["0.1::DOUBLE", "1e300::DOUBLE", "-0.0::DOUBLE", "'-inf'::DOUBLE"],
    "decimal": [
        "5.00::DECIMAL(18,2)",
        "-0.50::DECIMAL(4,2)",
        "0::DECIMAL(38,10)",
        "123456789012345678.123::DECIMAL(38,3)",
    ],
    "boolean": ["true", "false"],
    "varchar": ["'ü, \"quoted\"'", "'{\"a\": 1}'::JSON"],
    "date": ["DATE '0001-01-01'", "DATE '2024-02-29'"],
    "timestamp": ["TIMESTAMP '1970-01-01'", "TIMESTAMP '2024-01-02 03:04:05.123456'"],
    "blob": ["'\\x01\\xff'::BLOB"],
    "null": ["NULL"],
}


def test_every_type_duckdb_converts_itself_has_values_to_compare() -> None:
    assert set(DUCKDB_VALUES) == DUCKDB_AS_ARROW


@pytest.mark.parametrize("kind", sorted(DUCKDB_VALUES))
def test_duckdbs_own_values_are_the_ones_arrow_gives(kind: str) -> None:
    """A result of these types is printed from DuckDB's Python values, without loading pyarrow: they must be
    the values, of the same Python types, that the result's Arrow table gives, as `--format` printed before."""
    columns = ", ".join(f"{value} AS c{i}" for i, value in enumerate(DUCKDB_VALUES[kind]))
    sql = f"SELECT {columns} UNION ALL SELECT {', '.join(['NULL'] * len(DUCKDB_VALUES[kind]))}"
    with duckdb.connect() as connection:
        relation = connection.sql(sql)
        assert {t.id for t in relation.types} == {kind}
        own, through_arrow = _records(relation), Records.from_arrow(relation.to_arrow_table())
    assert (own.columns, own.numeric) == (through_arrow.columns, through_arrow.numeric)
    assert [[repr(v) for v in row.values()] for row in own.rows] == [
        [repr(v) for v in row.values()] for row in through_arrow.rows
    ]


@pytest.mark.parametrize("sql", ["SELECT INTERVAL 1 DAY AS i", "SELECT 1::HUGEINT AS h", "SELECT MAP {'k': 1} AS m"])
def test_other_types_are_converted_through_arrow(sql: str) -> None:
    with duckdb.connect() as connection:
        assert _records(connection.sql(sql)) == Records.from_arrow(connection.sql(sql).to_arrow_table())


@pytest.fixture
def snapshot_files(settings: Settings) -> SnapshotFiles:
    files = SnapshotFiles.for_settings(settings)
    assert files is not None
    return files


def cached_sum(settings: Settings, table: str) -> int:
    """sum(n) of ``table`` through the CLI's engine, which remembers the table's current files."""
    engine = engine_for(settings)
    try:
        return int(engine.scalar(f"SELECT sum(n) FROM {table}"))
    finally:
        engine.close()


def test_a_table_whose_files_are_remembered_is_read_without_opening_the_catalog(
    settings: Settings, damaged: Path
) -> None:
    assert cached_sum(settings, "gold.damaged") == 6
    engine = engine_for(settings)
    assert isinstance(engine, LocalEngine)
    assert engine.scalar("SELECT sum(n) FROM gold.damaged") == 6
    assert "catalog" not in vars(engine), "the catalog was opened: the table's files were not taken from the cache"
    engine.close()


def test_a_new_snapshot_is_read_not_the_remembered_files(
    settings: Settings, catalog: SqlCatalog, damaged: Path, snapshot_files: SnapshotFiles
) -> None:
    table = catalog.load_table(("gold", "damaged"))
    assert cached_sum(settings, "gold.damaged") == 6
    assert snapshot_files.files(("gold", "damaged"), table.metadata_location) is not None

    commit_load(table, [pa.table({"n": [4]})], {"test": "append"}, replace=False)
    assert cached_sum(settings, "gold.damaged") == 10
    commit_load(catalog.load_table(("gold", "damaged")), [pa.table({"n": [7]})], {"test": "replace"}, replace=True)
    assert cached_sum(settings, "gold.damaged") == 7
    table = catalog.load_table(("gold", "damaged"))
    table.manage_snapshots().rollback_to_snapshot(table.snapshots()[0].snapshot_id).commit()
    assert cached_sum(settings, "gold.damaged") == 3
    current = catalog.load_table(("gold", "damaged")).metadata_location
    assert snapshot_files.files(("gold", "damaged"), current) is not None


@pytest.mark.bad_input
def test_a_data_file_lost_from_a_remembered_table_is_named(settings: Settings, damaged: Path) -> None:
    assert cached_sum(settings, "gold.damaged") == 6
    damaged.unlink()
    with pytest.raises(DamagedTableError) as raised:
        cached_sum(settings, "gold.damaged")
    assert str(raised.value) == missing_file_error(damaged)
    assert cached_sum(settings, "gold.intact") == 6


@pytest.mark.bad_input
def test_a_cache_file_that_does_not_parse_is_a_miss(
    settings: Settings, damaged: Path, snapshot_files: SnapshotFiles
) -> None:
    assert cached_sum(settings, "gold.damaged") == 6
    (cache_file,) = snapshot_files.directory.glob("*gold.damaged.json")
    cache_file.write_text('{"metadata_location": ')
    assert cached_sum(settings, "gold.damaged") == 6
    assert json.loads(cache_file.read_text())["files"]


@pytest.mark.bad_input
def test_a_table_the_catalog_does_not_hold_is_named_from_the_catalogs_rows(
    catalog: SqlCatalog, settings: Settings
) -> None:
    engine = engine_for(settings)
    with pytest.raises(MissingTableError, match=r"^no table gold.nope, silver.gone in the catalog$"):
        engine.query("SELECT * FROM gold.nope, silver.gone, bronze.orders")
    assert "catalog" not in vars(engine)
    engine.close()
