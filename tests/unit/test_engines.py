"""The query engines that need no server: Trino's column types in Arrow, and the error when Trino is down."""

from decimal import Decimal

import pyarrow as pa
import pytest

from lakehouse.engine import LocalEngine, QueryError, TrinoEngine, _arrow_type, engine_for
from lakehouse.settings import Profile, Settings
from lakehouse_dev.services.process import free_port
from lakehouse_dev.services.stack import trino_catalog_environment


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
    assert isinstance(engine_for(Settings(home=tmp_path, profile=Profile.STACK)), TrinoEngine)


def test_a_trino_that_is_not_running_is_a_clear_error(tmp_path) -> None:
    port = free_port()
    engine = TrinoEngine(Settings(home=tmp_path, profile=Profile.STACK, trino_port=port))
    with pytest.raises(QueryError, match=rf"Trino at 127.0.0.1:{port} is not reachable .* `make services-up`"):
        engine.query("SELECT 1")


def test_trino_reads_the_catalog_pyiceberg_writes(tmp_path) -> None:
    settings = Settings(
        home=tmp_path, profile=Profile.STACK, catalog_uri="postgresql+psycopg://keeper:secret@db.internal:6543/iceberg"
    )
    environment = trino_catalog_environment(settings)
    assert environment["LAKEHOUSE_TRINO_CATALOG_JDBC_URL"] == "jdbc:postgresql://db.internal:6543/iceberg"
    assert environment["LAKEHOUSE_TRINO_CATALOG_JDBC_USER"] == "keeper"
    assert environment["LAKEHOUSE_TRINO_CATALOG_JDBC_PASSWORD"] == "secret"
    assert environment["LAKEHOUSE_CATALOG_NAME"] == settings.catalog_name
    assert environment["LAKEHOUSE_WAREHOUSE"] == "s3://warehouse/"
