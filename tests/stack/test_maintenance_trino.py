"""Maintenance on `stack`: Trino's table procedures compact, expire and clean tables on MinIO, and
exactly-once survives them on the real broker and bucket.

Each test has tables of its own (a name with its own suffix) in the stack's shared catalog, a
landing folder and a topic of its own.
"""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.table import Table

from lakehouse.defs.maintenance.jobs import maintenance
from lakehouse.defs.maintenance.resources import table_maintenance
from lakehouse.iceberg.catalog import catalog_for
from lakehouse.iceberg.declarations import (
    LandingDeclaration,
    MaintenancePolicy,
    SnapshotRetention,
    TopicDeclaration,
)
from lakehouse.ingest.landing.load import LandingIngestion
from lakehouse.ingest.landing.store import landing_store
from lakehouse.maintenance.compaction import ContentChangedError, content_fingerprint
from lakehouse.maintenance.trino_procedures import TrinoProcedures
from lakehouse.settings import Settings
from lakehouse_dev.services.stack import Stack
from tests.declarations import MARKETPLACE, SALES_EVENTS
from tests.incremental import MARKETPLACE_HEADER
from tests.resources import resources_for
from tests.stack.test_events import assert_exactly_once, end_offsets, event_ids, ingest, produce

pytestmark = pytest.mark.stack

# Everything expirable goes, every orphan file too; a partition with two small files is compacted.
EVERYTHING = MaintenancePolicy(
    min_input_files=2,
    snapshot_retention=SnapshotRetention(max_age=timedelta(0), keep_last=1),
    orphan_file_age=timedelta(0),
)
# While loads run: a load's files exist before its commit names them, so an orphan age of zero
# would remove a racing load's manifest from under it, as Iceberg warns; an hour keeps them.
WHILE_LOADING = EVERYTHING.model_copy(update={"orphan_file_age": timedelta(hours=1)})
LOADS = 6


@pytest.fixture
def tag() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def settings(running_stack: Stack, tag: str) -> Settings:
    return running_stack.settings.model_copy(update={"landing": f"s3://landing/{tag}/", "landing_settle_seconds": 0})


@pytest.fixture
def procedures(settings: Settings) -> TrinoProcedures:
    procedures = table_maintenance(settings).procedures()
    assert isinstance(procedures, TrinoProcedures)
    return procedures


@pytest.fixture
def marketplace(tag: str) -> LandingDeclaration:
    return MARKETPLACE.model_copy(update={"table": f"marketplace_orders_{tag}"})


@pytest.fixture
def events(tag: str) -> TopicDeclaration:
    topic = SALES_EVENTS.topic.model_copy(update={"name": f"sales-events-{tag}"})
    return SALES_EVENTS.model_copy(update={"table": f"sales_events_{tag}", "topic": topic})


def deliver(settings: Settings, number: int) -> None:
    line = f"ebay,{1800000000 + number},11,1998-05-01,,France,1,10.00,0\n"
    landing_store(settings).write(f"marketplace_orders/trino-{number}.csv", (MARKETPLACE_HEADER + line).encode())


def delivered_and_loaded(settings: Settings, marketplace: LandingDeclaration, count: int) -> Table:
    """``count`` deliveries, each loaded on its own (a commit each); the table they went to."""
    catalog = catalog_for(settings)
    landing = LandingIngestion(catalog, landing_store(settings), marketplace)
    for number in range(count):
        deliver(settings, number)
        assert landing.run().rows_written == 1
    return catalog.load_table(("bronze", marketplace.table))


def fingerprint(table: Table) -> tuple[int, int]:
    return content_fingerprint(table.refresh().scan().to_arrow())


def maintain(procedures: TrinoProcedures, table: Table, policy: MaintenancePolicy = EVERYTHING) -> None:
    now = datetime.now(UTC)
    procedures.compact(table, policy)
    procedures.expire_snapshots(table, policy.snapshot_retention, now)
    procedures.remove_orphan_files(table, policy.orphan_file_age, now)


def written_by_trino(table: Table) -> bool:
    """Whether Trino committed one of the table's snapshots."""
    return any(
        snapshot.summary is not None and snapshot.summary.additional_properties.get("engine-name") == "trino"
        for snapshot in table.refresh().metadata.snapshots
    )


def test_trino_maintenance_loses_no_landing_file_and_no_offset(
    settings: Settings,
    running_stack: Stack,
    procedures: TrinoProcedures,
    marketplace: LandingDeclaration,
    events: TopicDeclaration,
) -> None:
    catalog = catalog_for(settings)
    delivered_and_loaded(settings, marketplace, LOADS)
    for batch in range(LOADS):
        produce(running_stack.kafka, events, 50, seed=batch + 1)
        assert ingest(settings, events).rows_written == 50
    tables = {name: catalog.load_table(("bronze", name)) for name in (marketplace.table, events.table)}
    before = {name: (fingerprint(table), len(list(table.scan().plan_files()))) for name, table in tables.items()}
    time.sleep(1.5)  # every load older than the margin Trino's expiry keeps

    for table in tables.values():
        maintain(procedures, table)

    for name, table in tables.items():
        (rows, files) = before[name]
        assert fingerprint(table) == rows, name
        assert len(list(table.scan().plan_files())) < files, name
        # Two snapshots at most are left: the compaction's and the checkpoint holding the position.
        assert len(table.metadata.snapshots) <= 2, name
        assert written_by_trino(table), name
    # The same files again and the topic read again from the position the tables recorded.
    for number in range(LOADS):
        deliver(settings, number)
    assert LandingIngestion(catalog, landing_store(settings), marketplace).run().rows_written == 0
    assert ingest(settings, events).rows_written == 0
    produce(running_stack.kafka, events, 50, seed=LOADS + 1)
    assert ingest(settings, events).rows_written == 50
    produced = [event for seed in range(1, LOADS + 2) for event in event_ids(seed, 50)]
    loaded = catalog.load_table(("bronze", events.table)).scan().to_arrow()
    assert_exactly_once(loaded, produced, end_offsets(running_stack.kafka, events))
    assert catalog.load_table(("bronze", marketplace.table)).scan().to_arrow().num_rows == LOADS


def test_loads_racing_trinos_maintenance_are_all_kept_once(
    settings: Settings, procedures: TrinoProcedures, marketplace: LandingDeclaration
) -> None:
    table = delivered_and_loaded(settings, marketplace, LOADS)
    maintaining = threading.Event()

    def keep_loading() -> None:
        racing = LandingIngestion(catalog_for(settings), landing_store(settings), marketplace)
        maintaining.wait(timeout=60)
        for number in range(LOADS, 3 * LOADS):
            deliver(settings, number)
            racing.run()

    with ThreadPoolExecutor(max_workers=1) as loader:
        loading = loader.submit(keep_loading)
        maintaining.set()
        maintain(procedures, table, WHILE_LOADING)
        while not loading.done():
            maintain(procedures, table, WHILE_LOADING)
        loading.result()
    # Whichever commit lost a race started again: every delivery's line is there, once.
    assert sorted(table.refresh().scan().to_arrow()["order_id"].to_pylist()) == [
        1800000000 + number for number in range(3 * LOADS)
    ]


def test_trino_removes_a_crashed_loads_file_and_nothing_referenced(
    settings: Settings, procedures: TrinoProcedures, marketplace: LandingDeclaration, tmp_path: Path
) -> None:
    table = delivered_and_loaded(settings, marketplace, 1)
    before = fingerprint(table)
    crashed = f"{table.location()}/data/crashed-load.parquet"
    local = tmp_path / "crashed.parquet"
    pq.write_table(pa.table({"order_id": [1]}), local)
    with table.io.new_output(crashed).create() as stream:
        stream.write(local.read_bytes())

    removed = procedures.remove_orphan_files(table, timedelta(0), datetime.now(UTC) + timedelta(seconds=1))

    assert removed.files >= 1
    assert not table.io.new_input(crashed).exists()
    assert fingerprint(table) == before


def test_a_compaction_that_changed_a_row_is_named_with_the_snapshot_to_roll_back_to(
    settings: Settings, procedures: TrinoProcedures, marketplace: LandingDeclaration
) -> None:
    table = delivered_and_loaded(settings, marketplace, 2)
    first, second = (snapshot.snapshot_id for snapshot in table.metadata.snapshots)
    # Two snapshots that differ stand for a rewrite that lost a row: the check names both.
    with pytest.raises(ContentChangedError, match=f"lakehouse rollback bronze.{marketplace.table} {first}"):
        procedures.check_unchanged(table, first, second)
    procedures.check_unchanged(table, second, second)


def test_the_maintenance_job_runs_trinos_procedures_on_stack(
    settings: Settings, marketplace: LandingDeclaration
) -> None:
    table = delivered_and_loaded(settings, marketplace, LOADS)

    jobs = dg.Definitions(jobs=[maintenance], resources=resources_for(settings))
    with dg.DagsterInstance.ephemeral() as instance:
        result = jobs.resolve_job_def("maintenance").execute_in_process(instance=instance)
    assert result.success
    [observed] = [
        {name: value.value for name, value in observation.metadata.items()}
        for event in result.all_events
        if event.event_type_value == "ASSET_OBSERVATION"
        and (observation := event.asset_observation_data.asset_observation).asset_key
        == dg.AssetKey(["bronze", marketplace.table])
    ]
    # A table no declaration names takes the default policy: five small files are enough.
    assert (observed["data_files_before"], observed["data_files_after"]) == (LOADS, 1)
    assert observed["small_files_rewritten"] == LOADS
    assert written_by_trino(table)
