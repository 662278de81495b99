"""Landing files from a local directory into bronze.marketplace_orders: each file once, bad input
quarantined, the asset and its check in process, the sensor evaluated against a real instance."""

import json
import threading
from datetime import date
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from lakehouse.defs.bronze import LOADED
from lakehouse.defs.landing.assets import (
    NO_DUPLICATE_KEYS,
    NO_QUARANTINED_INPUT,
    TAKEN_FILES_UNCHANGED,
    build_landing_asset,
)
from lakehouse.defs.landing.jobs import landing_run_config
from lakehouse.defs.landing.sensors import build_landing_sensor
from lakehouse.iceberg.commits import recorded
from lakehouse.ingest.landing.load import LandingDetails, LandingIngestion
from lakehouse.ingest.landing.store import LandingError, LandingStore, LocalLandingStore, landing_store
from lakehouse.ingest.landing.tracking import LANDING_FILES
from lakehouse.ingest.results import LoadResult
from lakehouse.settings import Settings
from lakehouse_dev.generators.marketplace_files import deliver_sample_files
from tests.declarations import MARKETPLACE as DECLARATION
from tests.resources import resources_for

HEADER = "marketplace,order_id,product_id,order_date,customer_id,country,quantity,unit_price,discount\n"
GOOD_LINE = "amazon,1500000001,{product},2024-06-01,,Germany,2,19.99,0\n"


@pytest.fixture
def store(settings: Settings) -> LandingStore:
    return landing_store(settings)


def ingest(catalog: SqlCatalog, store: LandingStore, files: list[str] | None = None) -> LoadResult[LandingDetails]:
    return LandingIngestion(catalog, store, DECLARATION, chunk_rows=1_000).run(files or [])


def bronze(catalog: SqlCatalog) -> pa.Table:
    return catalog.load_table(("bronze", DECLARATION.table)).scan().to_arrow()


def rows_by_file(catalog: SqlCatalog) -> dict[str, int]:
    counts = bronze(catalog).group_by("_source_file").aggregate([("order_id", "count")]).to_pylist()
    return {row["_source_file"]: row["order_id_count"] for row in counts}


def quarantined(settings: Settings, path: str, suffix: str) -> Path:
    return settings.home / "landing" / "quarantine" / f"{path}{suffix}"


def test_csv_jsonl_and_parquet_files_land_with_their_source_file(catalog: SqlCatalog, store: LandingStore) -> None:
    delivered = [
        *deliver_sample_files(store, files=1, rows=40, file_format="csv", seed=1),
        *deliver_sample_files(store, files=1, rows=30, file_format="jsonl", seed=2),
        *deliver_sample_files(store, files=2, rows=20, file_format="parquet", seed=3),
    ]
    result = ingest(catalog, store)

    assert sorted(result.details.files_ingested) == sorted(delivered)
    assert result.rows_written == result.total_rows == 110
    assert rows_by_file(catalog) == dict(zip(delivered, [40, 30, 20, 20], strict=True))
    rows = bronze(catalog)
    assert pc.all(pc.equal(rows["_source"], "landing/marketplace_orders")).as_py()
    assert rows["_ingested_at"].null_count == 0
    assert rows.schema.field("order_date").type == pa.date32()
    assert pc.min(rows["order_id"]).as_py() >= 1_000_000_000
    assert rows.group_by(DECLARATION.key).aggregate([]).num_rows == rows.num_rows
    table = catalog.load_table(("bronze", DECLARATION.table))
    assert sorted(json.loads(recorded(table, LANDING_FILES) or "[]")) == sorted(delivered)


def test_values_arrive_as_the_partner_sent_them(catalog: SqlCatalog, store: LandingStore) -> None:
    store.write(
        "marketplace_orders/one.csv", (HEADER + "ebay,1500000001,7,2024-06-01,ALFKI,France,3,12.5,0.05\n").encode()
    )
    ingest(catalog, store)
    row = bronze(catalog).drop_columns(["_ingested_at", "_source", "_delivered_at"]).to_pylist()[0]
    assert row == {
        "marketplace": "ebay", "order_id": 1500000001, "product_id": 7, "order_date": date(2024, 6, 1),
        "customer_id": "ALFKI", "country": "France", "quantity": 3, "unit_price": 12.5, "discount": 0.05,
        "_source_file": "marketplace_orders/one.csv", "_source_row": 2,
    }  # fmt: skip


@pytest.mark.bad_input
def test_a_file_delivered_again_ingests_nothing(catalog: SqlCatalog, store: LandingStore) -> None:
    [path] = deliver_sample_files(store, files=1, rows=25, file_format="parquet", seed=4)
    first = ingest(catalog, store)
    deliver_sample_files(store, files=1, rows=25, file_format="parquet", seed=4)  # same path, delivered again

    again = ingest(catalog, store)
    named = ingest(catalog, store, [path])

    assert first.rows_written == 25
    assert again.details.files == () and again.rows_written == 0
    assert named.details.already_taken == (path,) and named.rows_written == 0
    assert again.snapshot_id == named.snapshot_id == first.snapshot_id
    assert bronze(catalog).num_rows == 25


@pytest.mark.bad_input
def test_a_malformed_file_is_quarantined_whole_while_the_others_land(
    catalog: SqlCatalog, store: LandingStore, settings: Settings
) -> None:
    [good] = deliver_sample_files(store, files=1, rows=10, file_format="parquet", seed=5)
    store.write("marketplace_orders/broken.parquet", b"PAR1 this is not a parquet file")
    store.write(
        "marketplace_orders/no_date.csv", b"marketplace,order_id,product_id,quantity,unit_price\nebay,1,2,3,4.0\n"
    )
    store.write("marketplace_orders/orders.xml", b"<orders/>")

    result = ingest(catalog, store)

    assert result.details.files_ingested == [good]
    assert sorted(result.details.files_quarantined) == [
        "marketplace_orders/broken.parquet",
        "marketplace_orders/no_date.csv",
        "marketplace_orders/orders.xml",
    ]
    assert rows_by_file(catalog) == {good: 10}
    copy = quarantined(settings, "marketplace_orders/broken.parquet", "")
    assert copy.read_bytes() == b"PAR1 this is not a parquet file"
    broken = quarantined(settings, "marketplace_orders/broken.parquet", ".reason.txt").read_text()
    assert "cannot be read as parquet" in broken and "new name" in broken
    no_date = quarantined(settings, "marketplace_orders/no_date.csv", ".reason.txt").read_text()
    assert "missing required column(s) order_date" in no_date
    assert "unknown format .xml" in quarantined(settings, "marketplace_orders/orders.xml", ".reason.txt").read_text()
    # Quarantined paths are taken too: the next load does not read them again.
    assert ingest(catalog, store).details.files == ()


@pytest.mark.bad_input
def test_rows_that_do_not_fit_are_quarantined_with_their_line_and_reason(
    catalog: SqlCatalog, store: LandingStore, settings: Settings
) -> None:
    csv = (
        HEADER
        + GOOD_LINE.format(product=1)
        + "amazon,1500000001,2,2024-06-01,,Germany,three,19.99,0\n"
        + "amazon,1500000001,3,,,Germany,2,19.99,0\n"
        + "amazon,1500000001,4,2024-06-01\n"
        + GOOD_LINE.format(product=5)
        + "amazon,1500000001,6,2024-06-01,,Germany,-,19.99,0\n"
    )
    store.write("marketplace_orders/mixed.csv", csv.encode())
    lines = [
        '{"marketplace": "bol", "order_id": 1500000002, "product_id": 1, "order_date": "2024-06-02", '
        '"quantity": 1, "unit_price": 3.5, "gift_wrap": true}',
        "[1, 2]",
        '{"marketplace": "bol", "order_id": 1500000002, "product_id": 2, "order_date": "2024-06-02", '
        '"quantity": 1, "unit_price": "cheap"}',
    ]
    store.write("marketplace_orders/mixed.jsonl", ("\n".join(lines) + "\n").encode())
    # Every value of the right kind, so Arrow reads the file in one go; the second line lacks its date.
    store.write(
        "marketplace_orders/typed.jsonl", (lines[0] + "\n" + lines[0].replace('"order_date"', '"day"')).encode()
    )

    result = ingest(catalog, store)

    assert sorted(result.details.files_ingested) == [
        "marketplace_orders/mixed.csv",
        "marketplace_orders/mixed.jsonl",
        "marketplace_orders/typed.jsonl",
    ]
    assert result.details.files_quarantined == [] and result.rows_quarantined == 7
    assert rows_by_file(catalog) == {
        "marketplace_orders/mixed.csv": 2,
        "marketplace_orders/mixed.jsonl": 1,
        "marketplace_orders/typed.jsonl": 1,
    }
    rejected = quarantined(settings, "marketplace_orders/mixed.csv", ".rejected.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in rejected]
    assert [(r["_line"], r["_reason"].split(":")[0]) for r in records] == [
        (3, "quantity"),
        (4, "order_date"),
        (5, "expected 9 fields, found 4"),
        (7, "quantity"),
    ]
    assert records[0]["quantity"] == "three" and records[0]["product_id"] == "2"
    assert records[1]["_reason"] == "order_date: required value is missing"
    assert records[2]["_text"] == "amazon,1500000001,4,2024-06-01"
    reason = quarantined(settings, "marketplace_orders/mixed.csv", ".reason.txt").read_text()
    assert "4 of 6 row(s) do not fit" in reason and "line 3: quantity: 'three'" in reason
    json_records = [
        json.loads(line)
        for line in quarantined(settings, "marketplace_orders/mixed.jsonl", ".rejected.jsonl").read_text().splitlines()
    ]
    assert [(r["_line"], r["_reason"].split(":")[0]) for r in json_records] == [
        (2, "expected a JSON object, found list"),
        (3, "unit_price"),
    ]
    typed = quarantined(settings, "marketplace_orders/typed.jsonl", ".rejected.jsonl").read_text().splitlines()
    assert [(r["_line"], r["_reason"]) for r in map(json.loads, typed)] == [
        (2, "order_date: required value is missing")
    ]
    ignored = {f.path: f.ignored_columns for f in result.details.files}
    assert ignored["marketplace_orders/mixed.jsonl"] == ("gift_wrap",)
    assert ignored["marketplace_orders/typed.jsonl"] == ("gift_wrap", "day")


class FailingStore(LocalLandingStore):
    """The local store, except that reading ``fail_on`` raises ``error``."""

    def __init__(self, root: Path, fail_on: str, error: BaseException) -> None:
        super().__init__(root)
        self.fail_on = fail_on
        self.error = error

    def read(self, path: str) -> bytes:
        if path == self.fail_on:
            raise self.error
        return super().read(path)


class Crash(Exception):
    """The process dying in the middle of a load."""


@pytest.mark.bad_input
def test_a_load_that_fails_before_its_commit_is_rerun_exactly_once(
    catalog: SqlCatalog, store: LandingStore, settings: Settings
) -> None:
    paths = deliver_sample_files(store, files=3, rows=15, file_format="csv", seed=6)
    store.write("marketplace_orders/zz_garbage.parquet", b"garbage")  # sorts last: read after the others
    failing = FailingStore(settings.home / "landing", fail_on=paths[2], error=Crash("killed"))

    with pytest.raises(Crash):
        LandingIngestion(catalog, failing, DECLARATION).run()
    assert catalog.load_table(("bronze", DECLARATION.table)).current_snapshot() is None

    result = ingest(catalog, store)
    again = ingest(catalog, store)

    assert result.rows_written == 45 and sorted(result.details.files_ingested) == paths
    assert result.details.files_quarantined == ["marketplace_orders/zz_garbage.parquet"]
    assert again.rows_written == 0
    assert rows_by_file(catalog) == dict.fromkeys(paths, 15)


@pytest.mark.bad_input
def test_a_file_that_cannot_be_read_now_stays_pending_and_loads_later(
    catalog: SqlCatalog, store: LandingStore, settings: Settings
) -> None:
    paths = deliver_sample_files(store, files=3, rows=15, file_format="csv", seed=6)
    lost = ConnectionError(f"lost the landing location while reading {paths[1]}")
    failing = FailingStore(settings.home / "landing", fail_on=paths[1], error=lost)

    first = LandingIngestion(catalog, failing, DECLARATION).run()
    second = ingest(catalog, store)

    assert sorted(first.details.files_ingested) == [paths[0], paths[2]] and not first.details.files_quarantined
    [left] = first.details.left_pending
    assert left.path == paths[1] and "lost the landing location" in left.reason and "next run" in left.reason
    assert not quarantined(settings, paths[1], ".reason.txt").exists()
    assert second.details.files_ingested == [paths[1]]
    assert rows_by_file(catalog) == dict.fromkeys(paths, 15)


@pytest.mark.bad_input
def test_quarantine_files_are_written_before_the_commit(
    catalog: SqlCatalog, store: LandingStore, settings: Settings
) -> None:
    store.write("marketplace_orders/a_garbage.parquet", b"garbage")  # read first
    [later] = deliver_sample_files(store, files=1, rows=5, file_format="csv", seed=7)
    failing = FailingStore(settings.home / "landing", fail_on=later, error=Crash("killed"))

    with pytest.raises(Crash):
        LandingIngestion(catalog, failing, DECLARATION).run(["marketplace_orders/a_garbage.parquet", later])

    assert quarantined(settings, "marketplace_orders/a_garbage.parquet", ".reason.txt").exists()
    assert catalog.load_table(("bronze", DECLARATION.table)).current_snapshot() is None
    assert ingest(catalog, store).rows_written == 5


@pytest.mark.bad_input
def test_two_loads_at_once_take_each_file_once(catalog: SqlCatalog, store: LandingStore, settings: Settings) -> None:
    paths = deliver_sample_files(store, files=4, rows=50, file_format="parquet", seed=8)
    results: list[LoadResult[LandingDetails]] = []

    def load() -> None:
        results.append(LandingIngestion(SqlCatalog("lakehouse", **catalog.properties), store, DECLARATION).run())

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 2
    assert sum(r.rows_written for r in results) == 200
    assert rows_by_file(catalog) == dict.fromkeys(paths, 50)


@pytest.mark.bad_input
def test_a_run_loads_only_files_of_its_dataset(catalog: SqlCatalog, store: LandingStore) -> None:
    with pytest.raises(LandingError, match="loads files under marketplace_orders/ only"):
        ingest(catalog, store, ["other_dataset/file.csv"])
    with pytest.raises(LandingError, match=r"without '\.\.'"):
        ingest(catalog, store, ["marketplace_orders/../secrets.csv"])


def test_hidden_files_are_not_listed(store: LandingStore) -> None:
    store.write("marketplace_orders/.partial.csv", b"being written")
    store.write("marketplace_orders/_SUCCESS", b"")
    [visible] = deliver_sample_files(store, files=1, rows=3, file_format="csv", seed=9)
    assert [f.path for f in store.list("marketplace_orders/")] == [visible]


def materialize(settings: Settings, files: list[str] | None = None) -> dg.ExecuteInProcessResult:
    run_config = landing_run_config(DECLARATION, files) if files is not None else None
    return dg.materialize(
        [build_landing_asset(DECLARATION)],
        resources=resources_for(settings),
        run_config=run_config,
    )


def evaluation(result: dg.ExecuteInProcessResult, check_name: str) -> dg.AssetCheckEvaluation:
    return next(check for check in result.get_asset_check_evaluations() if check.check_name == check_name)


def metadata(result: dg.ExecuteInProcessResult) -> dict[str, object]:
    [event] = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.step_materialization_data.materialization.metadata.items()}


def test_the_asset_loads_the_files_its_run_config_names_and_reports_quarantine(
    settings: Settings, store: LandingStore
) -> None:
    named = deliver_sample_files(store, files=2, rows=12, file_format="parquet", seed=10)
    [other] = deliver_sample_files(store, files=1, rows=7, file_format="csv", seed=11)
    store.write("marketplace_orders/broken.csv", b"marketplace,order_id\nebay,1\n")

    first = materialize(settings, named)
    values = metadata(first)
    assert values["rows_written"] == values["dagster/row_count"] == 24
    assert values["files_ingested"] == 2 and values["files_quarantined"] == 0
    assert str(values["table_location"]).startswith(f"file://{settings.home}/warehouse")
    assert {check.check_name: check.passed for check in first.get_asset_check_evaluations()} == {
        LOADED: True,
        NO_QUARANTINED_INPUT: True,
        TAKEN_FILES_UNCHANGED: True,
        NO_DUPLICATE_KEYS: True,
    }

    rest = materialize(settings)  # no files named: the new ones
    values = metadata(rest)
    assert values["rows_written"] == 7 and values["dagster/row_count"] == 31
    assert values["files_ingested"] == 1 and values["files_quarantined"] == 1
    check = evaluation(rest, NO_QUARANTINED_INPUT)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    reasons = check.metadata["reasons"].value
    assert list(reasons) == ["marketplace_orders/broken.csv"]
    assert "missing required column(s)" in reasons["marketplace_orders/broken.csv"]
    assert other in str(values["files"])

    unchanged = metadata(materialize(settings))
    assert unchanged["rows_written"] == 0 and unchanged["snapshot_id"] == values["snapshot_id"]


def evaluate_sensor(settings: Settings, instance: dg.DagsterInstance) -> dg.RunRequest | dg.SkipReason:
    sensor = build_landing_sensor(DECLARATION, settings.sensor_interval_seconds)
    # A context manager: some resources (Spark's) set up and tear down around their use.
    with dg.build_sensor_context(instance=instance, resources=resources_for(settings)) as context:
        return sensor(context)


def requested_files(request: dg.RunRequest) -> list[str]:
    [op_config] = request.run_config["ops"].values()
    return op_config["config"]["files"]


def test_the_sensor_requests_a_run_for_new_files_only(
    settings: Settings, store: LandingStore, catalog: SqlCatalog
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    assert isinstance(evaluate_sensor(settings, instance), dg.SkipReason)  # nothing delivered yet

    old = deliver_sample_files(store, files=2, rows=5, file_format="csv", seed=12)
    ingest(catalog, store)
    new = deliver_sample_files(store, files=3, rows=5, file_format="jsonl", seed=13)
    request = evaluate_sensor(settings, instance)

    assert isinstance(request, dg.RunRequest)
    assert requested_files(request) == new and not set(old) & set(requested_files(request))
    assert request.run_key is None

    ingest(catalog, store, requested_files(request))
    skipped = evaluate_sensor(settings, instance)
    assert isinstance(skipped, dg.SkipReason) and "no new settled files" in str(skipped.skip_message)


def test_the_sensor_waits_while_a_run_of_its_job_is_in_progress(settings: Settings, store: LandingStore) -> None:
    instance = dg.DagsterInstance.ephemeral()
    deliver_sample_files(store, files=1, rows=5, file_format="csv", seed=14)
    instance.add_run(dg.DagsterRun(job_name="marketplace_orders_to_gold", status=dg.DagsterRunStatus.STARTED))

    skipped = evaluate_sensor(settings, instance)

    assert isinstance(skipped, dg.SkipReason) and "in progress" in str(skipped.skip_message)


def test_the_asset_cuts_its_data_files_at_the_configured_chunk_rows(
    settings: Settings, catalog: SqlCatalog, store: LandingStore
) -> None:
    """LAKEHOUSE_EXTRACT_CHUNK_ROWS bounds landing loads as it bounds extraction: with 2 rows per
    chunk, three files of 2 rows are three data files of one commit, not one."""
    files = [f"marketplace_orders/part-{n}.csv" for n in range(3)]
    for path in files:
        store.write(path, (HEADER + GOOD_LINE.format(product=1) + GOOD_LINE.format(product=2)).encode())

    result = materialize(Settings(home=settings.home, extract_chunk_rows=2), files)

    assert metadata(result)["rows_written"] == 6
    [snapshot] = catalog.load_table(("bronze", DECLARATION.table)).snapshots()
    assert snapshot.summary is not None and snapshot.summary["added-data-files"] == "3"
