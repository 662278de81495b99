"""Small deliveries built incrementally, then the same lakehouse built from scratch: on either target,
the gold aggregates kept incrementally must equal their full rebuild to the cent.

The deliveries are chosen to hit what an incremental refresh can get wrong: a line on a day and in a
country of its own, corrected in a later file to another day and country (the first ones must
disappear), a line sent twice in one file, a product with no category, Kafka events retried with
the same event id, and an event without a country.
"""

import datetime as dt
from collections.abc import Callable
from contextlib import closing
from typing import Any

import dagster as dg
import pyarrow as pa
from pyiceberg.catalog import Catalog

from lakehouse.defs.medallion.plan import REBUILD_TAG
from lakehouse.engine import QueryEngine
from lakehouse.ingest.landing.load import LandingIngestion
from lakehouse.ingest.landing.store import landing_store
from lakehouse.settings import Settings
from tests.declarations import MARKETPLACE

INCREMENTAL_GOLD = ("daily_revenue", "revenue_by_country", "revenue_by_category", "live_sales_by_country")
# What an incremental refresh records of when it last saw each group: a full rebuild stamps them anew.
REFRESH_COLUMNS = {"_merged_at", "_ingested_at"}
MARKETPLACE_HEADER = "marketplace,order_id,product_id,order_date,customer_id,country,quantity,unit_price,discount\n"
DELIVERIES = [
    {
        "marketplace_orders/incremental-1.csv": [
            "ebay,1800000001,11,1999-01-01,,Atlantis,2,10.00,0",
            "amazon,1800000002,42,1997-03-03,ALFKI,,3,9.80,0.10",
            "ebay,1800000003,7,1998-01-05,,France,1,30.00,0",
            "ebay,1800000003,7,1998-01-05,,France,1,30.00,0",
        ],
    },
    {
        "marketplace_orders/incremental-2.csv": [
            "ebay,1800000001,11,1999-02-02,,Spain,2,12.50,0",
            "ebay,1800000004,999,1998-02-02,,Norway,1,5.05,0",
        ],
    },
    {
        "marketplace_orders/incremental-3.csv": [
            "amazon,1800000002,42,1997-03-03,ALFKI,,5,9.80,0.10",
            "amazon,1800000005,11,1997-03-04,BONAP,,7,21.35,0.05",
        ],
    },
]
# (event id, country, amount) per delivery; each event id is delivered again in the next one.
EVENTS = [
    [("incremental-e1", "Atlantis", "10.10"), ("incremental-e2", None, "3.33")],
    [("incremental-e3", "France", "7.77")],
    [("incremental-e4", "Atlantis", "1.01")],
]
Materialize = Callable[[dict[str, str] | None], dg.ExecuteInProcessResult]


def deliver_events(catalog: Catalog, round_number: int) -> None:
    """This round's events, and the previous round's again (a producer that retried), into bronze."""
    table = catalog.load_table(("bronze", "sales_events"))
    events = EVENTS[round_number] + (EVENTS[round_number - 1] if round_number else [])
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "event_id": event_id,
            "event_time": dt.datetime(1998, 5, 6, 12, tzinfo=dt.UTC),
            "order_id": 20000 + offset,
            "customer_id": None,
            "country": country,
            "product_id": 11,
            "quantity": 1,
            "unit_price": float(amount),
            "discount": 0.0,
            "_ingested_at": now,
            "_source": "test",
            "_kafka_partition": 0,
            "_kafka_offset": 100 * round_number + offset,
        }
        for offset, (event_id, country, amount) in enumerate(events)
    ]
    table.append(pa.Table.from_pylist(rows, schema=table.schema().as_arrow()))


def deliver(settings: Settings, catalog: Catalog, round_number: int) -> None:
    store = landing_store(settings)
    for path, lines in DELIVERIES[round_number].items():
        store.write(path, (MARKETPLACE_HEADER + "\n".join(lines) + "\n").encode())
    LandingIngestion(catalog, store, MARKETPLACE).run()
    deliver_events(catalog, round_number)


def read_gold(open_engine: Callable[[], QueryEngine], table: str) -> list[dict[str, Any]]:
    with closing(open_engine()) as engine:
        rows: list[dict[str, Any]] = engine.query(f"SELECT * FROM gold.{table}").to_pylist()
    return rows


def gold_figures(open_engine: Callable[[], QueryEngine], table: str) -> list[dict[str, Any]]:
    rows = read_gold(open_engine, table)
    figures = [{column: value for column, value in row.items() if column not in REFRESH_COLUMNS} for row in rows]
    return sorted(figures, key=lambda row: [str(value) for value in row.values()])


def day_stamps(open_engine: Callable[[], QueryEngine]) -> dict[str, Any]:
    return {str(row["order_date"]): row["_merged_at"] for row in read_gold(open_engine, "daily_revenue")}


def check_incremental_equals_full(
    settings: Settings,
    catalog: Catalog,
    open_engine: Callable[[], QueryEngine],
    materialize: Materialize,
    change_source: Callable[[], None] | None = None,
) -> None:
    """Deliver every round, each built by a run, and then make ``change_source``'s changes to the
    source, built by one more; then rebuild every model from scratch and compare."""
    before = day_stamps(open_engine)
    for round_number in range(len(DELIVERIES)):
        deliver(settings, catalog, round_number)
        assert materialize(None).success, round_number
        if round_number == 0:
            after = day_stamps(open_engine)
            refreshed = {day for day, stamp in after.items() if stamp != before.get(day)}
            # Only the days of the new lines were recomputed; every other day was kept as it stood.
            assert refreshed == {"1999-01-01", "1997-03-03", "1998-01-05"}
    if change_source is not None:
        change_source()
        assert materialize(None).success, "the source's changes"
    incremental = {table: gold_figures(open_engine, table) for table in INCREMENTAL_GOLD}
    countries = {row["country"] for row in incremental["revenue_by_country"]}
    days = {str(row["order_date"]) for row in incremental["daily_revenue"]}
    # The corrected line left its first day and country, which had no other line.
    assert "Atlantis" not in countries and "1999-01-01" not in days
    assert {"Spain", "Norway"} <= countries and "1999-02-02" in days
    assert None in {row["category_name"] for row in incremental["revenue_by_category"]}
    live = {row["country"]: row for row in incremental["live_sales_by_country"]}
    assert live["Atlantis"]["transactions"] == 2 and live["Unknown"]["transactions"] == 1

    assert materialize({REBUILD_TAG: "true"}).success
    assert {table: gold_figures(open_engine, table) for table in INCREMENTAL_GOLD} == incremental
