"""A deterministic Northwind generator, vectorised so that 10 million order lines take seconds.

Orders are produced in fixed-size chunks, each with its own random stream derived from the seed,
so memory stays bounded and the same seed always gives the same rows.
"""

import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse_dev.generators.northwind import reference as ref

ORDERS_PER_CHUNK = 400_000
FIRST_ORDER_DATE = dt.date(1996, 7, 4)
CLASSIC_SPAN_DAYS = 671  # 1996-07-04 .. 1998-05-06, as in the classic data
EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class NorthwindSize:
    """How big a generated Northwind is; everything derives from the number of order lines."""

    order_lines: int

    def __post_init__(self) -> None:
        if self.order_lines < 1:
            raise ValueError(f"order_lines must be positive, got {self.order_lines}")

    @property
    def orders(self) -> int:
        ratio = ref.CLASSIC_ORDERS / ref.CLASSIC_ORDER_LINES
        return max(1, round(self.order_lines * ratio))

    @property
    def customers(self) -> int:
        return max(ref.CLASSIC_CUSTOMERS, round(self.orders / 9.12))

    @property
    def span_days(self) -> int:
        # Larger datasets cover more years, so daily marts keep a plausible orders-per-day.
        return CLASSIC_SPAN_DAYS + min(10 * 365, self.orders // 1000)

    @property
    def last_order_id(self) -> int:
        return ref.FIRST_ORDER_ID + self.orders - 1


def parse_scale(text: str) -> NorthwindSize:
    """Parse ``classic`` or a number of order lines such as ``2155``, ``1M`` or ``10m``."""
    cleaned = text.strip().lower().replace("_", "").replace(",", "")
    if cleaned == "classic":
        return NorthwindSize(ref.CLASSIC_ORDER_LINES)
    multipliers = {"k": 1_000, "m": 1_000_000}
    factor = multipliers.get(cleaned[-1:], 1)
    number = cleaned[:-1] if factor > 1 else cleaned
    try:
        lines = int(float(number) * factor)
    except ValueError:
        raise ValueError(
            f"scale {text!r} is not 'classic' or a number of order lines such as 2155, 1M or 10M"
        ) from None
    return NorthwindSize(lines)


def _dates(days_since_first: np.ndarray) -> pa.Array:
    offset = (FIRST_ORDER_DATE - EPOCH).days
    return pa.array(days_since_first.astype(np.int32) + offset, pa.int32()).cast(pa.date32())


def _pick(rng: np.random.Generator, values: tuple[str, ...], size: int) -> pa.Array:
    return pa.array(values).take(pa.array(rng.integers(0, len(values), size)))


def categories() -> pa.Table:
    return pa.table(
        {
            "category_id": pa.array(range(1, len(ref.CATEGORIES) + 1), pa.int16()),
            "category_name": [c.name for c in ref.CATEGORIES],
            "description": [c.description for c in ref.CATEGORIES],
            # A tiny stand-in for the bitmap the classic data carries.
            "picture": pa.array([c.name.encode() for c in ref.CATEGORIES], pa.binary()),
        }
    )


def products(seed: int) -> pa.Table:
    rng = np.random.default_rng([seed, 1])
    names: list[str] = []
    category_ids: list[int] = []
    prices: list[float] = []
    for category_id, category in enumerate(ref.CATEGORIES, start=1):
        for name in category.products:
            names.append(name)
            category_ids.append(category_id)
            prices.append(round(category.base_price * float(rng.lognormal(0.0, 0.5)), 2))
    count = len(names)
    return pa.table(
        {
            "product_id": pa.array(range(1, count + 1), pa.int16()),
            "product_name": names,
            "supplier_id": pa.array(rng.integers(1, 30, count), pa.int16()),
            "category_id": pa.array(category_ids, pa.int16()),
            "quantity_per_unit": _pick(rng, ref.QUANTITY_UNITS, count),
            "unit_price": pa.array(prices, pa.float32()),
            "units_in_stock": pa.array(rng.integers(0, 125, count), pa.int16()),
            "units_on_order": pa.array(rng.choice([0, 0, 0, 10, 40, 70], count), pa.int16()),
            "reorder_level": pa.array(rng.choice([0, 5, 10, 15, 20, 25, 30], count), pa.int16()),
            "discontinued": pa.array((rng.random(count) < 0.1).astype(np.int32), pa.int32()),
        }
    )


def employees() -> pa.Table:
    count = len(ref.EMPLOYEES)
    rng = np.random.default_rng(9)
    birth = rng.integers(-12_000, -3_000, count)
    hire = rng.integers(-1_500, -60, count)
    return pa.table(
        {
            "employee_id": pa.array(range(1, count + 1), pa.int16()),
            "last_name": [e[0] for e in ref.EMPLOYEES],
            "first_name": [e[1] for e in ref.EMPLOYEES],
            "title": [e[2] for e in ref.EMPLOYEES],
            "title_of_courtesy": [e[3] for e in ref.EMPLOYEES],
            "birth_date": _dates(birth),
            "hire_date": _dates(hire),
            "address": _pick(rng, ref.STREETS, count),
            "city": pa.array(
                ["Seattle", "Tacoma", "Kirkland", "Redmond", "London", "London", "London", "Seattle", "London"]
            ),
            "region": pa.array(["WA", "WA", "WA", "WA", None, None, None, "WA", None], pa.string()),
            "postal_code": pa.array([f"{v:05d}" for v in rng.integers(10_000, 99_999, count)]),
            "country": pa.array(["USA"] * 4 + ["UK"] * 3 + ["USA", "UK"]),
            "home_phone": pa.array([f"(206) 555-{v:04d}" for v in rng.integers(0, 9_999, count)]),
            "extension": pa.array([str(v) for v in rng.integers(100, 9_999, count)]),
            "photo": pa.array([None] * count, pa.binary()),
            "notes": pa.array([f"{e[1]} joined the company as {e[2]}." for e in ref.EMPLOYEES]),
            "reports_to": pa.array(list(ref.EMPLOYEE_MANAGERS), pa.int16()),
            "photo_path": pa.array([f"http://accweb/emmployees/{e[0].lower()}.bmp" for e in ref.EMPLOYEES]),
        }
    )


def customer_codes(count: int) -> pa.Array:
    """Five-letter codes like the classic ``ALFKI``; a stride coprime with 26**5 keeps them unique."""
    space = 26**5
    numbers = (np.arange(count, dtype=np.int64) * 7_368_787 + 11_881) % space
    letters = np.empty((count, 5), dtype=np.uint8)
    for position in range(4, -1, -1):
        letters[:, position] = numbers % 26 + ord("A")
        numbers //= 26
    return pa.array(letters.view("S5").ravel().astype(str))


@dataclass(frozen=True)
class Customers:
    table: pa.Table
    standard_country: pa.Array  # the spelling orders ship to, before free-text variants
    order_weights: np.ndarray  # how often each customer orders, summing to 1


def customers(size: NorthwindSize, seed: int) -> Customers:
    rng = np.random.default_rng([seed, 2])
    count = size.customers
    weights = np.array([m.customer_weight for m in ref.MARKETS], dtype=np.float64)
    market = rng.choice(len(ref.MARKETS), count, p=weights / weights.sum())
    city_pick = rng.integers(0, 1_000, count)
    places = [(ref.MARKETS[m], pick) for m, pick in zip(market, city_pick, strict=True)]
    cities = [m.cities[pick % len(m.cities)] for m, pick in places]
    regions = [m.regions[pick % len(m.regions)] for m, pick in places]
    standard = pa.array([ref.MARKETS[i].country for i in market])
    written = standard.to_pylist()
    for index in np.flatnonzero(rng.random(count) < 0.04):
        variants = ref.MARKETS[market[index]].variants
        if variants:
            written[index] = variants[index % len(variants)]
    company = pc.binary_join_element_wise(
        _pick(rng, ref.COMPANY_WORDS, count), _pick(rng, ref.COMPANY_SUFFIXES, count), " "
    )
    contact = pc.binary_join_element_wise(_pick(rng, ref.FIRST_NAMES, count), _pick(rng, ref.LAST_NAMES, count), " ")
    house = pa.array(rng.integers(1, 300, count).astype(str))
    table = pa.table(
        {
            "customer_id": customer_codes(count),
            "company_name": company,
            "contact_name": contact,
            "contact_title": _pick(rng, ref.CONTACT_TITLES, count),
            "address": pc.binary_join_element_wise(_pick(rng, ref.STREETS, count), house, " "),
            "city": pa.array(cities),
            "region": pa.array(regions, pa.string()),
            "postal_code": pa.array(rng.integers(1_000, 99_999, count).astype(str)),
            "country": pa.array(written),
            "phone": pa.array([f"({a:03d}) 555-{b:04d}" for a, b in rng.integers(0, 999, (count, 2))]),
            "fax": pa.array(
                [f"({a:03d}) 555-{b:04d}" if a % 3 else None for a, b in rng.integers(0, 999, (count, 2))],
                pa.string(),
            ),
        }
    )
    # Repeat business is skewed: a few customers place many orders, most place a handful.
    activity = rng.lognormal(0.0, 0.8, count)
    return Customers(table, standard, activity / activity.sum())


@dataclass(frozen=True)
class OrderChunk:
    orders: pa.Table
    order_details: pa.Table


# Strides coprime with 77 products walk every product once before repeating one.
_PRODUCT_STRIDES = np.array([s for s in range(1, 77) if math.gcd(s, 77) == 1])


def _order_chunk(
    size: NorthwindSize,
    seed: int,
    first: int,
    stop: int,
    customer_rows: Customers,
    product_prices: np.ndarray,
    product_popularity: np.ndarray,
) -> "OrderChunk":
    rng = np.random.default_rng([seed, 3, first])
    count = stop - first
    lines_before = size.order_lines * first // size.orders
    lines = size.order_lines * stop // size.orders - lines_before
    index = np.arange(first, stop, dtype=np.int64)

    order_day = index * size.span_days // size.orders
    customer = rng.choice(len(customer_rows.order_weights), count, p=customer_rows.order_weights)
    employee = rng.choice(
        len(ref.EMPLOYEES), count, p=np.array(ref.EMPLOYEE_ORDER_WEIGHTS) / sum(ref.EMPLOYEE_ORDER_WEIGHTS)
    )
    shipped_after = rng.integers(1, 36, count).astype(np.float64)
    unshipped = (index >= size.orders * 0.975) & (rng.random(count) < 0.85)
    shipped_after[unshipped] = np.nan
    shipped = pa.array(order_day + shipped_after, mask=unshipped).cast(pa.int64())
    shipped = pc.add(shipped, (FIRST_ORDER_DATE - EPOCH).days).cast(pa.int32()).cast(pa.date32())
    customer_index = pa.array(customer)
    ctable = customer_rows.table
    orders = pa.table(
        {
            "order_id": pa.array(index + ref.FIRST_ORDER_ID, pa.int32()),
            "customer_id": ctable["customer_id"].take(customer_index),
            "employee_id": pa.array(employee + 1, pa.int16()),
            "order_date": _dates(order_day),
            "required_date": _dates(order_day + rng.choice([28] * 8 + [14, 42], count)),
            "shipped_date": shipped,
            "ship_via": pa.array(rng.integers(1, 4, count), pa.int16()),
            "freight": pa.array(np.round(rng.gamma(1.2, 65.0, count), 2), pa.float32()),
            "ship_name": ctable["company_name"].take(customer_index),
            "ship_address": ctable["address"].take(customer_index),
            "ship_city": ctable["city"].take(customer_index),
            "ship_region": ctable["region"].take(customer_index),
            "ship_postal_code": ctable["postal_code"].take(customer_index),
            "ship_country": customer_rows.standard_country.take(customer_index),
        }
    )

    # Every order has at least one line; the rest spread with a long tail, like the classic data.
    spread = rng.gamma(1.0, 1.0, count)
    per_order = 1 + rng.multinomial(lines - count, spread / spread.sum())
    order_of_line = np.repeat(np.arange(count), per_order)
    position = np.arange(lines) - np.repeat(np.cumsum(per_order) - per_order, per_order)
    product_count = len(product_prices)
    first_product = rng.choice(product_count, count, p=product_popularity)
    stride = rng.choice(_PRODUCT_STRIDES, count)
    product = (first_product[order_of_line] + position * stride[order_of_line]) % product_count
    # Orders before 1997 were priced at the older list price, as in the classic data.
    old_price = (order_day < (dt.date(1997, 1, 1) - FIRST_ORDER_DATE).days)[order_of_line]
    price = np.where(old_price, np.round(product_prices[product] * 0.8, 2), product_prices[product])
    discount_pick = rng.choice(len(ref.DISCOUNTS), count, p=np.array(ref.DISCOUNT_WEIGHTS) / sum(ref.DISCOUNT_WEIGHTS))
    quantity = np.clip(np.round(rng.gamma(1.6, 15.0, lines)), 1, 130)
    details = pa.table(
        {
            "order_id": pa.array(index[order_of_line] + ref.FIRST_ORDER_ID, pa.int32()),
            "product_id": pa.array(product + 1, pa.int16()),
            "unit_price": pa.array(price, pa.float32()),
            "quantity": pa.array(quantity, pa.int16()),
            "discount": pa.array(np.array(ref.DISCOUNTS)[discount_pick][order_of_line], pa.float32()),
        }
    )
    return OrderChunk(orders, details)


def order_chunks(
    size: NorthwindSize, seed: int, customer_rows: Customers, product_rows: pa.Table
) -> Iterator[OrderChunk]:
    prices = product_rows["unit_price"].to_numpy().astype(np.float64)
    popularity = np.random.default_rng([seed, 4]).dirichlet(np.full(len(prices), 0.7))
    for first in range(0, size.orders, ORDERS_PER_CHUNK):
        stop = min(first + ORDERS_PER_CHUNK, size.orders)
        yield _order_chunk(size, seed, first, stop, customer_rows, prices, popularity)
