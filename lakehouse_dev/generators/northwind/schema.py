"""The six Northwind tables with the names and types of the public PostgreSQL sample database.

The public database types every id as ``smallint``. That holds the classic data but not
millions of orders, so ``northwind_metadata(wide_ids=True)`` widens ``order_id`` to ``integer``;
the bronze tables map both to Iceberg ``int``, so nothing downstream changes.
"""

from sqlalchemy import (
    REAL,
    Column,
    Date,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
)

NORTHWIND_TABLES: tuple[str, ...] = (
    "categories",
    "customers",
    "employees",
    "products",
    "orders",
    "order_details",
)


def northwind_metadata(*, wide_ids: bool = False) -> MetaData:
    """Build SQLAlchemy metadata for the Northwind tables this project extracts."""
    order_id_type = Integer if wide_ids else SmallInteger
    metadata = MetaData()
    Table(
        "categories",
        metadata,
        Column("category_id", SmallInteger, primary_key=True, autoincrement=False),
        Column("category_name", String(15), nullable=False),
        Column("description", Text),
        Column("picture", LargeBinary),
    )
    Table(
        "customers",
        metadata,
        Column("customer_id", String(5), primary_key=True),
        Column("company_name", String(40), nullable=False),
        Column("contact_name", String(30)),
        Column("contact_title", String(30)),
        Column("address", String(60)),
        Column("city", String(15)),
        Column("region", String(15)),
        Column("postal_code", String(10)),
        Column("country", String(15)),
        Column("phone", String(24)),
        Column("fax", String(24)),
    )
    Table(
        "employees",
        metadata,
        Column("employee_id", SmallInteger, primary_key=True, autoincrement=False),
        Column("last_name", String(20), nullable=False),
        Column("first_name", String(10), nullable=False),
        Column("title", String(30)),
        Column("title_of_courtesy", String(25)),
        Column("birth_date", Date),
        Column("hire_date", Date),
        Column("address", String(60)),
        Column("city", String(15)),
        Column("region", String(15)),
        Column("postal_code", String(10)),
        Column("country", String(15)),
        Column("home_phone", String(24)),
        Column("extension", String(4)),
        Column("photo", LargeBinary),
        Column("notes", Text),
        Column("reports_to", SmallInteger),
        Column("photo_path", String(255)),
    )
    Table(
        "products",
        metadata,
        Column("product_id", SmallInteger, primary_key=True, autoincrement=False),
        Column("product_name", String(40), nullable=False),
        Column("supplier_id", SmallInteger),
        Column("category_id", SmallInteger),
        Column("quantity_per_unit", String(20)),
        Column("unit_price", REAL),
        Column("units_in_stock", SmallInteger),
        Column("units_on_order", SmallInteger),
        Column("reorder_level", SmallInteger),
        Column("discontinued", Integer, nullable=False),
    )
    Table(
        "orders",
        metadata,
        Column("order_id", order_id_type, primary_key=True, autoincrement=False),
        Column("customer_id", String(5)),
        Column("employee_id", SmallInteger),
        Column("order_date", Date),
        Column("required_date", Date),
        Column("shipped_date", Date),
        Column("ship_via", SmallInteger),
        Column("freight", REAL),
        Column("ship_name", String(40)),
        Column("ship_address", String(60)),
        Column("ship_city", String(15)),
        Column("ship_region", String(15)),
        Column("ship_postal_code", String(10)),
        Column("ship_country", String(15)),
    )
    Table(
        "order_details",
        metadata,
        Column("order_id", order_id_type, nullable=False),
        Column("product_id", SmallInteger, nullable=False),
        Column("unit_price", REAL, nullable=False),
        Column("quantity", SmallInteger, nullable=False),
        Column("discount", REAL, nullable=False),
        PrimaryKeyConstraint("order_id", "product_id"),
    )
    return metadata
