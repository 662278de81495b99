"""Snapshot expiry keeps exactly-once: the position every load needs survives it."""

from datetime import UTC, datetime, timedelta

from pyiceberg.catalog.sql import SqlCatalog

from lakehouse.iceberg.declarations import SnapshotRetention, bronze_declarations, landing_declarations
from lakehouse.ingest.database.extract import Extraction
from lakehouse.ingest.database.source import SourceDatabase
from lakehouse.ingest.landing.load import LandingIngestion
from lakehouse.ingest.landing.store import landing_store
from lakehouse.maintenance.snapshots import expire_snapshots
from lakehouse.settings import Settings
from tests.incremental import MARKETPLACE_HEADER
from tests.integration.test_extract import add_orders

[MARKETPLACE] = [declaration for declaration in landing_declarations() if declaration.table == "marketplace_orders"]
[ORDERS] = [declaration for declaration in bronze_declarations() if declaration.table == "orders"]
EVERYTHING_EXPIRABLE = SnapshotRetention(max_age=timedelta(0), keep_last=1)


def deliver(settings: Settings, number: int) -> str:
    path = f"marketplace_orders/expiry-{number}.csv"
    line = f"ebay,{1900000000 + number},11,1998-05-01,,France,1,10.00,0\n"
    landing_store(settings).write(path, (MARKETPLACE_HEADER + line).encode())
    return path


def rows(catalog: SqlCatalog, table: str) -> int:
    return catalog.load_table(("bronze", table)).scan().to_arrow().num_rows


def test_expiring_every_snapshot_loses_no_position(
    settings: Settings, catalog: SqlCatalog, classic_source: SourceDatabase
) -> None:
    landing = LandingIngestion(catalog, landing_store(settings), MARKETPLACE)
    for number in range(3):
        deliver(settings, number)
        landing.run()
    Extraction(catalog, classic_source, ORDERS).run()
    add_orders(classic_source, 2)
    Extraction(catalog, classic_source, ORDERS).run()
    loaded = {"marketplace_orders": rows(catalog, "marketplace_orders"), "orders": rows(catalog, "orders")}
    assert loaded["marketplace_orders"] == 3

    now = datetime.now(UTC) + timedelta(seconds=1)
    marketplace = expire_snapshots(catalog.load_table(("bronze", "marketplace_orders")), EVERYTHING_EXPIRABLE, now)
    orders = expire_snapshots(catalog.load_table(("bronze", "orders")), EVERYTHING_EXPIRABLE, now)
    # Three loads' files were spread over three snapshots: a checkpoint gathered them first.
    assert marketplace.expired == 3 and marketplace.checkpoint is not None
    # Every expired snapshot went; what they recorded is in the one left.
    assert orders.expired == 2
    assert len(catalog.load_table(("bronze", "orders")).metadata.snapshots) == 1
    table = catalog.load_table(("bronze", "marketplace_orders"))
    assert [snapshot.snapshot_id for snapshot in table.metadata.snapshots] == [marketplace.checkpoint]

    # The same files delivered again and the source read again: nothing is loaded twice.
    for number in range(3):
        deliver(settings, number)
    assert landing.run().rows_written == 0
    assert Extraction(catalog, classic_source, ORDERS).run().rows_written == 0
    assert {"marketplace_orders": rows(catalog, "marketplace_orders"), "orders": rows(catalog, "orders")} == loaded
    # And what is new still loads.
    deliver(settings, 3)
    assert landing.run().rows_written == 1
