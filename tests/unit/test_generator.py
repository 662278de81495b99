import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import sqlalchemy as sa

from lakehouse.ingest.database.source import SourceDatabase
from lakehouse_dev.generators.northwind import generator
from lakehouse_dev.generators.northwind.generator import NorthwindSize, parse_scale
from lakehouse_dev.generators.northwind.load import northwind_exists, write_northwind
from lakehouse_dev.generators.northwind.schema import NORTHWIND_TABLES

# Column names of the public Northwind PostgreSQL sample database, in its order.
PUBLIC_NORTHWIND_COLUMNS = {
    "categories": ["category_id", "category_name", "description", "picture"],
    "customers": [
        "customer_id", "company_name", "contact_name", "contact_title", "address", "city", "region",
        "postal_code", "country", "phone", "fax",
    ],
    "employees": [
        "employee_id", "last_name", "first_name", "title", "title_of_courtesy", "birth_date", "hire_date",
        "address", "city", "region", "postal_code", "country", "home_phone", "extension", "photo", "notes",
        "reports_to", "photo_path",
    ],
    "products": [
        "product_id", "product_name", "supplier_id", "category_id", "quantity_per_unit", "unit_price",
        "units_in_stock", "units_on_order", "reorder_level", "discontinued",
    ],
    "orders": [
        "order_id", "customer_id", "employee_id", "order_date", "required_date", "shipped_date", "ship_via",
        "freight", "ship_name", "ship_address", "ship_city", "ship_region", "ship_postal_code", "ship_country",
    ],
    "order_details": ["order_id", "product_id", "unit_price", "quantity", "discount"],
}  # fmt: skip


def _generate(size: NorthwindSize, seed: int = 42) -> tuple[pa.Table, pa.Table, pa.Table]:
    customers = generator.customers(size, seed)
    products = generator.products(seed)
    chunks = list(generator.order_chunks(size, seed, customers, products))
    orders = pa.concat_tables(c.orders for c in chunks)
    details = pa.concat_tables(c.order_details for c in chunks)
    return customers.table, orders, details


@pytest.mark.parametrize(
    ("text", "lines"), [("classic", 2155), ("2155", 2155), ("1M", 1_000_000), ("10m", 10_000_000), ("250k", 250_000)]
)
def test_parse_scale(text: str, lines: int) -> None:
    assert parse_scale(text).order_lines == lines


def test_parse_scale_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="'huge' is not 'classic' or a number of order lines"):
        parse_scale("huge")


def test_classic_size_matches_the_public_dataset() -> None:
    customers, orders, details = _generate(parse_scale("classic"))
    assert (customers.num_rows, orders.num_rows, details.num_rows) == (91, 830, 2155)
    assert generator.products(42).num_rows == 77
    assert generator.categories().num_rows == 8
    assert generator.employees().num_rows == 9
    assert pc.min(orders["order_id"]).as_py() == 10248


def test_same_seed_same_data_other_seed_other_data() -> None:
    size = NorthwindSize(20_000)
    first, second, other = _generate(size, 7), _generate(size, 7), _generate(size, 8)
    assert all(a.equals(b) for a, b in zip(first, second, strict=True))
    assert not first[2].equals(other[2])


def test_distributions_are_plausible() -> None:
    customers, orders, details = _generate(NorthwindSize(50_000))
    keys = pa.table({"o": details["order_id"], "p": details["product_id"]}).group_by(["o", "p"]).aggregate([])
    assert keys.num_rows == details.num_rows, "an order lists a product twice"
    assert pc.all(pc.is_in(orders["customer_id"], customers["customer_id"])).as_py()
    orders_per_customer = orders.group_by("customer_id").aggregate([("order_id", "count")])["order_id_count"]
    assert pc.mean(pc.greater(orders_per_customer, 1)).as_py() > 0.8, "customers should come back"
    assert pc.max(orders_per_customer).as_py() > 3 * pc.mean(orders_per_customer).as_py(), "some customers buy a lot"
    no_discount = pc.mean(pc.equal(details["discount"], 0).cast(pa.float64())).as_py()
    assert 0.5 < no_discount < 0.7
    assert {round(v, 6) for v in pc.unique(details["discount"]).to_pylist()} <= {0.0, 0.05, 0.1, 0.15, 0.2, 0.25}
    assert len(pc.unique(orders["ship_country"])) >= 15
    assert len(pc.unique(details["product_id"])) == 77
    assert pc.min(orders["order_date"]).as_py() == dt.date(1996, 7, 4)
    shipped = orders.filter(pc.is_valid(orders["shipped_date"]))
    assert pc.all(pc.greater_equal(shipped["shipped_date"], shipped["order_date"])).as_py()
    assert 0 < orders.num_rows - shipped.num_rows < orders.num_rows * 0.05, "the newest orders are not all shipped"
    assert 2.3 < details.num_rows / orders.num_rows < 2.9


def test_written_tables_have_the_public_northwind_columns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/nw.db"
    assert not northwind_exists(url)
    summary = write_northwind(url, parse_scale("classic"))
    assert northwind_exists(url)
    assert summary.rows["order_details"] == 2155
    source = SourceDatabase(url)
    for table in NORTHWIND_TABLES:
        assert source.columns(table) == PUBLIC_NORTHWIND_COLUMNS[table]
    inspector = sa.inspect(sa.create_engine(url))
    order_id = next(c for c in inspector.get_columns("orders") if c["name"] == "order_id")
    assert isinstance(order_id["type"], sa.SmallInteger)


def test_large_datasets_widen_order_id(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/nw.db"
    write_northwind(url, NorthwindSize(100_000))
    inspector = sa.inspect(sa.create_engine(url))
    order_id = next(c for c in inspector.get_columns("orders") if c["name"] == "order_id")
    assert isinstance(order_id["type"], sa.Integer) and not isinstance(order_id["type"], sa.SmallInteger)
    assert SourceDatabase(url).max_value("orders", "order_id") == 10248 + NorthwindSize(100_000).orders - 1


def test_regenerating_replaces_rather_than_appends(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/nw.db"
    write_northwind(url, parse_scale("classic"))
    write_northwind(url, parse_scale("classic"))
    assert SourceDatabase(url).count("order_details") == 2155


def test_databases_without_a_bulk_driver_get_batched_inserts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast_url, portable_url = f"sqlite:///{tmp_path}/fast.db", f"sqlite:///{tmp_path}/portable.db"
    write_northwind(fast_url, NorthwindSize(3_000))
    monkeypatch.setattr("lakehouse_dev.generators.northwind.load.has_adbc_driver", lambda url: False)
    write_northwind(portable_url, NorthwindSize(3_000))
    for table in NORTHWIND_TABLES:
        fast = SourceDatabase(fast_url).read(table, PUBLIC_NORTHWIND_COLUMNS[table]).read_all()
        portable = SourceDatabase(portable_url).read(table, PUBLIC_NORTHWIND_COLUMNS[table]).read_all()
        assert fast.equals(portable), table
