"""Landing files as partners really deliver them: half written, rewritten, sent twice, named as
temporary files. Each case asserts what the load reports and that no row is lost or doubled."""

import os
import time
from pathlib import Path

import dagster as dg
import pyarrow.compute as pc
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from lakehouse.defs.landing.assets import NO_DUPLICATE_KEYS, TAKEN_FILES_UNCHANGED, build_landing_asset
from lakehouse.ingest.landing.load import LandingIngestion
from lakehouse.ingest.landing.store import LocalLandingStore, landing_store
from lakehouse.settings import Settings
from tests.declarations import MARKETPLACE as DECLARATION
from tests.resources import resources_for

pytestmark = pytest.mark.bad_input

HEADER = "marketplace,order_id,product_id,order_date,customer_id,country,quantity,unit_price,discount\n"


def lines(count: int, first_order: int = 1_600_000_001, quantity: int = 2) -> str:
    return "".join(
        f"ebay,{order},{1 + order % 77},2024-06-01,,France,{quantity},10.00,0\n"
        for order in range(first_order, first_order + count)
    )


def bronze_rows(catalog: SqlCatalog) -> int:
    return catalog.load_table(("bronze", DECLARATION.table)).scan().to_arrow().num_rows


def age(path: Path, seconds: float) -> None:
    """Set the file's modification time ``seconds`` in the past, as if its writer had finished then."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_file_still_being_written_waits_until_it_settles_and_then_loads_whole(
    catalog: SqlCatalog, settings: Settings
) -> None:
    store = landing_store(settings)
    path = "marketplace_orders/slow.csv"
    full = HEADER + lines(100)
    cut = full[: full.index("\n", len(HEADER) + 49 * 30) + 15]  # 49 lines and part of the 50th
    target = settings.home / "landing" / path
    target.parent.mkdir(parents=True)
    target.write_text(cut)
    ingestion = LandingIngestion(catalog, store, DECLARATION, settle_seconds=30)

    while_writing = ingestion.run()
    target.write_text(full)
    age(target, 60)
    settled = ingestion.run()

    assert while_writing.rows_written == 0 and while_writing.details.files == ()
    assert while_writing.details.still_pending == 1
    assert settled.details.files_ingested == [path] and settled.rows_written == 100
    assert settled.rows_quarantined == 0 and bronze_rows(catalog) == 100


class WriterStillAppending(LocalLandingStore):
    """A partner's writer appending to ``path`` while the load reads it."""

    def __init__(self, root: Path, path: str, rest: str) -> None:
        super().__init__(root)
        self.path, self.rest = path, rest

    def read(self, path: str) -> bytes:
        content = super().read(path)
        if path == self.path and self.rest:
            with (self.root / path).open("a") as file:
                file.write(self.rest)
            self.rest = ""
        return content


def test_a_file_that_grows_while_it_is_read_is_left_for_the_next_run(catalog: SqlCatalog, settings: Settings) -> None:
    path = "marketplace_orders/growing.csv"
    root = settings.home / "landing"
    (root / "marketplace_orders").mkdir(parents=True)
    (root / path).write_text(HEADER + lines(49))
    age(root / path, 60)
    racing = WriterStillAppending(root, path, lines(51, first_order=1_600_000_050))

    first = LandingIngestion(catalog, racing, DECLARATION).run()
    second = LandingIngestion(catalog, landing_store(settings), DECLARATION).run()

    [left] = first.details.left_pending
    assert left.path == path and "changed while it was read" in left.reason and first.rows_written == 0
    assert second.details.files_ingested == [path] and second.rows_written == 100
    assert bronze_rows(catalog) == 100


def test_temporary_and_hidden_names_are_never_taken(catalog: SqlCatalog, settings: Settings) -> None:
    store = landing_store(settings)
    for name in ["orders.csv.tmp", "orders.csv.part", ".orders.csv", "_orders.csv", "_tmp/orders.csv"]:
        store.write(f"marketplace_orders/{name}", (HEADER + lines(5)).encode())

    result = LandingIngestion(catalog, store, DECLARATION).run()

    assert result.details.files == () and result.details.still_pending == 0
    assert not (settings.home / "landing" / "quarantine").exists()


def materialize(settings: Settings) -> dg.ExecuteInProcessResult:
    return dg.materialize([build_landing_asset(DECLARATION)], resources=resources_for(settings))


def check(result: dg.ExecuteInProcessResult, name: str) -> dg.AssetCheckEvaluation:
    return next(c for c in result.get_asset_check_evaluations() if c.check_name == name)


def test_a_taken_file_rewritten_later_is_reported_and_not_loaded_again(catalog: SqlCatalog, settings: Settings) -> None:
    store = landing_store(settings)
    path = "marketplace_orders/daily.csv"
    store.write(path, (HEADER + lines(10)).encode())
    materialize(settings)
    store.write(path, (HEADER + lines(10) + lines(5, first_order=1_600_000_011)).encode())

    result = materialize(settings)

    changed = check(result, TAKEN_FILES_UNCHANGED)
    assert not changed.passed and changed.severity == dg.AssetCheckSeverity.WARN
    [message] = changed.metadata["changes"].value  # type: ignore[attr-defined]
    assert message.startswith(f"{path} changed after it was taken") and "deliver it under a new name" in message
    assert bronze_rows(catalog) == 10


def test_keys_delivered_twice_are_listed_with_their_files(catalog: SqlCatalog, settings: Settings) -> None:
    store = landing_store(settings)
    store.write("marketplace_orders/a.csv", (HEADER + lines(3) + lines(1)).encode())  # its first line twice
    store.write("marketplace_orders/b.csv", (HEADER + lines(1, first_order=1_600_000_002, quantity=5)).encode())

    result = materialize(settings)

    duplicates = check(result, NO_DUPLICATE_KEYS)
    assert not duplicates.passed and duplicates.severity == dg.AssetCheckSeverity.WARN
    assert duplicates.metadata["duplicate_keys"].value == 2 and duplicates.metadata["extra_rows"].value == 2
    examples = duplicates.metadata["examples"].value  # type: ignore[attr-defined]
    assert [(e["order_id"], e["copies"], e["files"]) for e in examples] == [
        (1_600_000_001, 2, ["marketplace_orders/a.csv"]),
        (1_600_000_002, 2, ["marketplace_orders/a.csv", "marketplace_orders/b.csv"]),
    ]
    rows = catalog.load_table(("bronze", DECLARATION.table)).scan().to_arrow()
    assert rows.num_rows == 5 and pc.min(rows["_source_row"]).as_py() == 2
