from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa

from lakehouse.ingest.database.source import TYPING_MARK, CursorRange, SourceDatabase, SourceError

ROWS = 70_000  # more than one SQLite batch, so type inference would see only NULLs for `late`


@pytest.fixture
def sparse_source(tmp_path: Path) -> SourceDatabase:
    url = f"sqlite:///{tmp_path}/sparse.db"
    metadata = sa.MetaData()
    table = sa.Table(
        "sparse",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("late", sa.String(10)),
        sa.Column("blob", sa.LargeBinary),
        sa.Column("amount", sa.Numeric(10, 2)),
        sa.Column("day", sa.Date),
    )
    engine = sa.create_engine(url)
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(
            table.insert(),
            [
                {"id": i, "late": "x" if i >= ROWS - 3 else None, "amount": 1 if i % 2 else 2.5, "day": None}
                for i in range(ROWS)
            ],
        )
    return SourceDatabase(url)


def test_sqlite_columns_null_in_the_first_batch_keep_their_declared_kind(sparse_source: SourceDatabase) -> None:
    rows = sparse_source.read("sparse", ["id", "late", "blob", "amount", "day"]).read_all()
    assert rows.num_rows == ROWS
    assert TYPING_MARK not in rows.column_names
    assert rows.schema.field("late").type in (pa.string(), pa.large_string())
    assert rows.schema.field("blob").type in (pa.binary(), pa.large_binary())
    assert rows.schema.field("amount").type == pa.float64()
    assert rows["late"].to_pylist()[-3:] == ["x", "x", "x"]
    assert rows["late"].null_count == ROWS - 3
    assert sorted(set(rows["amount"].to_pylist())) == [1.0, 2.5]


def test_reads_are_bounded_by_the_cursor_range(sparse_source: SourceDatabase) -> None:
    rows = sparse_source.read("sparse", ["id"], CursorRange("id", 100, 110)).read_all()
    assert rows["id"].to_pylist() == list(range(101, 111))
    assert sparse_source.count("sparse", CursorRange("id", None, 9)) == 10


def test_unsupported_databases_are_named(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="uses 'mysql'; supported databases: sqlite, postgresql"):
        SourceDatabase("mysql://user:secret@db/northwind")


def test_passwords_never_appear_in_messages() -> None:
    source = SourceDatabase("postgresql://user:secret@127.0.0.1:1/northwind")
    assert "secret" not in source.display_url
    assert source.label == "postgresql:northwind"


def test_sqlite_reads_of_not_null_columns_need_no_typing_row(sparse_source: SourceDatabase) -> None:
    assert TYPING_MARK not in sparse_source.select_sql("sparse", ["id"])
    assert TYPING_MARK in sparse_source.select_sql("sparse", ["id", "late"])


def test_a_first_load_scans_the_table_and_an_increment_seeks_the_cursor_index(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/lines.db"
    metadata = sa.MetaData()
    sa.Table(
        "lines",
        metadata,
        sa.Column("order_id", sa.Integer, primary_key=True),
        sa.Column("product_id", sa.Integer, primary_key=True),
    )
    engine = sa.create_engine(url)
    metadata.create_all(engine)
    source = SourceDatabase(url)

    def plan(cursor_range: CursorRange) -> str:
        sql = source.select_sql("lines", ["order_id", "product_id"], cursor_range)
        with engine.connect() as connection:
            return " ".join(row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))

    assert plan(CursorRange("order_id", None, 100)).startswith("SCAN lines")
    assert "USING" in plan(CursorRange("order_id", 90, 100))
