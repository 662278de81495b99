"""Runs that write the same tables take turns: every writing asset runs in a pool, and the
instance `lakehouse dagster-home` configures admits one step per pool at a time, for runs of
`dagster dev` and of `lakehouse materialize` alike."""

import threading
import time

import dagster as dg
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from lakehouse.definitions import defs
from lakehouse.defs.landing.assets import build_landing_asset
from lakehouse.defs.landing.jobs import landing_op_name
from lakehouse.iceberg.declarations import landing_declarations
from lakehouse.instance import prepare_dagster_home
from lakehouse.settings import Settings
from lakehouse_dev.generators.marketplace_files import deliver_sample_files
from tests.resources import resources_for

pytestmark = pytest.mark.bad_input

[DECLARATION] = landing_declarations()


def test_every_asset_that_writes_tables_runs_in_a_pool() -> None:
    writers = [
        assets_def
        for assets_def in defs().resolve_asset_graph().assets_defs
        if assets_def.is_executable and assets_def.keys
    ]
    assert writers
    assert [assets_def.op.name for assets_def in writers if not assets_def.op.pool] == []


def test_the_instance_admits_one_step_per_pool(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    instance = dg.DagsterInstance.from_config(str(prepare_dagster_home(settings)))
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 1


@pytest.mark.usefixtures("catalog")
def test_a_run_waits_while_another_run_writes_the_same_table(
    settings: Settings, catalog: SqlCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    instance = dg.DagsterInstance.from_config(str(prepare_dagster_home(settings)))
    deliver_sample_files(settings, files=1, rows=10, file_format="csv", seed=31)
    pool = landing_op_name(DECLARATION)
    # Another run's landing step holds the table's pool, as a run's step claims it.
    instance.event_log_storage.initialize_concurrency_limit_to_default(pool)
    instance.event_log_storage.claim_concurrency_slot(pool, "other-run", "other-step")
    results: list[dg.ExecuteInProcessResult] = []
    waiting = threading.Thread(
        target=lambda: results.append(
            dg.materialize([build_landing_asset(DECLARATION)], resources=resources_for(settings), instance=instance)
        )
    )

    waiting.start()
    time.sleep(3)
    table = catalog.load_table(("bronze", DECLARATION.table))
    committed_while_held = table.current_snapshot() is not None
    instance.event_log_storage.free_concurrency_slots_for_run("other-run")
    waiting.join(timeout=120)

    assert not committed_while_held
    assert results and results[0].success
    assert table.refresh().scan().to_arrow().num_rows == 10
