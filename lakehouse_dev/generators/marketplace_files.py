"""Sample partner files for the landing source: marketplace order lines as CSV, JSON Lines or Parquet."""

import json
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from lakehouse.iceberg.declarations import FileFormat
from lakehouse.ingest.landing.store import LandingStore, landing_store
from lakehouse.settings import Settings
from lakehouse_dev.generators.northwind import reference
from lakehouse_dev.generators.northwind.generator import customer_codes

# The sample dataset: order lines sold through partner marketplaces.
SAMPLE_DATASET = "marketplace_orders"
MARKETPLACES = ("amazon", "ebay", "zalando", "cdiscount", "allegro", "bol")
FIRST_ORDER_ID = 1_000_000_000
LAST_ORDER_ID = 2**31 - 1
PRODUCTS = 77
KNOWN_CUSTOMER_SHARE = 0.6
DAYS_BACK = 30


def _sample_rows(rows: int, first_order_id: int, rng: np.random.Generator, today: date) -> pa.Table:
    """Order lines of whole orders (1 to 4 lines, distinct products), order ids counting from ``first_order_id``."""
    lines_per_order = rng.integers(1, 5, rows)
    order = np.repeat(np.arange(rows), lines_per_order)[:rows]
    line_in_order = np.arange(rows) - np.searchsorted(order, order)
    orders = int(order[-1]) + 1 if rows else 0
    codes = np.array(customer_codes(reference.CLASSIC_CUSTOMERS).to_pylist(), dtype=object)
    weights = np.array([m.customer_weight for m in reference.MARKETS], dtype=np.float64)
    countries = np.array([m.country for m in reference.MARKETS], dtype=object)
    guest = np.array(None, dtype=object)
    customer = np.where(rng.random(orders) < KNOWN_CUSTOMER_SHARE, codes[rng.integers(0, len(codes), orders)], guest)
    first_product = rng.integers(0, PRODUCTS, orders)
    discounts = np.array(reference.DISCOUNTS)
    discount_weights = np.array(reference.DISCOUNT_WEIGHTS)
    days_ago = rng.integers(0, DAYS_BACK, orders)
    return pa.table(
        {
            "marketplace": pa.array(
                np.array(MARKETPLACES, dtype=object)[rng.integers(0, len(MARKETPLACES), orders)]
            ).take(order),
            "order_id": pa.array(first_order_id + order, pa.int64()),
            "product_id": pa.array((first_product[order] + line_in_order) % PRODUCTS + 1, pa.int64()),
            "order_date": pa.array(np.datetime64(today, "D") - days_ago.astype("timedelta64[D]")).take(order),
            "customer_id": pa.array(customer, pa.string()).take(order),
            "country": pa.array(countries[rng.choice(len(countries), orders, p=weights / weights.sum())]).take(order),
            "quantity": pa.array(rng.integers(1, 21, rows), pa.int64()),
            "unit_price": pa.array(np.round(rng.uniform(2, 260, rows), 2)),
            "discount": pa.array(
                discounts[rng.choice(len(discounts), rows, p=discount_weights / discount_weights.sum())]
            ),
        }
    )


def _encoded(rows: pa.Table, kind: FileFormat) -> bytes:
    sink = pa.BufferOutputStream()
    if kind is FileFormat.PARQUET:
        pq.write_table(rows, sink, compression="zstd")
    elif kind is FileFormat.CSV:
        pa_csv.write_csv(rows, sink)
    else:
        return "".join(json.dumps(record, default=str) + "\n" for record in rows.to_pylist()).encode()
    encoded: bytes = sink.getvalue().to_pybytes()
    return encoded


def deliver_sample_files(
    target: Settings | LandingStore,
    files: int,
    rows: int,
    file_format: FileFormat | str = FileFormat.PARQUET,
    seed: int = 0,
) -> list[str]:
    """Deliver ``files`` files of ``rows`` marketplace order lines each; returns their landing paths.

    The files are ``marketplace_orders/sample-<seed>/part-<n>.<format>``, so delivering the same seed
    again delivers the same paths, which load nothing. Order ids come from the seed and the file's
    number: unique across the files of one delivery and across deliveries of the same shape with
    other seeds.
    """
    kind = FileFormat(file_format)
    store = landing_store(target) if isinstance(target, Settings) else target
    first = FIRST_ORDER_ID + seed * files * rows
    if seed < 0 or first + files * rows - 1 > LAST_ORDER_ID:
        raise ValueError(f"seed {seed} with {files} file(s) of {rows} row(s) takes order ids beyond int range")
    today = datetime.now(UTC).date()
    paths = []
    for index in range(files):
        rng = np.random.default_rng([seed, index])
        path = f"{SAMPLE_DATASET}/sample-{seed}/part-{index:05d}.{kind}"
        store.write(path, _encoded(_sample_rows(rows, first + index * rows, rng, today), kind))
        paths.append(path)
    return paths
