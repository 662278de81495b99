"""The code location as Dagster loads it: its definitions, the lineage they form, and what it imports.

The asset graph is compared with `asset_graph.json` beside this file, so a change to the lineage
(a key, a group, a dependency, a check, a job's selection) shows in review. After an intended
change, write the snapshot anew with `UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/unit/test_definitions.py`.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from lakehouse.definitions import defs
from lakehouse.defs.events.assets import event_assets
from lakehouse.defs.events.jobs import event_jobs
from lakehouse.defs.events.resources import event_resources
from lakehouse.defs.events.sensors import event_sensors
from lakehouse.defs.landing.assets import landing_assets
from lakehouse.defs.landing.jobs import landing_jobs
from lakehouse.defs.landing.resources import landing_resources
from lakehouse.defs.landing.sensors import landing_sensors
from lakehouse.defs.resources import resources
from lakehouse.settings import Settings
from lakehouse_dev.generators.northwind.schema import NORTHWIND_TABLES

SNAPSHOT = Path(__file__).with_name("asset_graph.json")
GOLD = ("daily_revenue", "revenue_by_country", "revenue_by_category", "sales_kpis", "customer_rfm",
        "customer_lifetime_value")  # fmt: skip


def asset_graph(definitions: dg.Definitions) -> dict[str, object]:
    """What a reviewer should see change: per asset its group, upstream assets and checks; per job
    the assets it runs; the sensors and schedules with their jobs; the resources' names."""
    graph = definitions.resolve_asset_graph()
    assets = {
        key.to_user_string(): {
            "group": graph.get(key).group_name,
            "deps": sorted(parent.to_user_string() for parent in graph.get(key).parent_keys),
            "checks": sorted(check.name for check in graph.get(key).check_keys),
        }
        for key in sorted(graph.get_all_asset_keys())
    }
    jobs = {
        job.name: sorted(key.to_user_string() for key in job.asset_layer.executable_asset_keys)
        for job in definitions.resolve_all_job_defs()
        if not job.name.startswith("__")
    }
    return {
        "assets": assets,
        "jobs": jobs,
        "sensors": {
            sensor.name: sorted(target.job_name for target in sensor.targets) for sensor in definitions.sensors
        },
        "schedules": {schedule.name: schedule.job_name for schedule in definitions.schedules},
        "resources": sorted(definitions.resources),
    }


def test_the_asset_graph_matches_its_snapshot() -> None:
    current = asset_graph(defs())
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    assert current == expected, (
        "the asset graph changed; if that is intended, write the snapshot anew with "
        "UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/unit/test_definitions.py and review its diff"
    )


def test_the_code_location_imports_neither_the_harness_nor_the_generators() -> None:
    # In a process of its own: the tests themselves import the harness.
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, lakehouse.definitions as d; d.defs(); "
         "print('\\n'.join(sorted(m for m in sys.modules if m.split('.')[0] == 'lakehouse_dev')))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert loaded.stdout.split() == [], f"the code location imported development modules: {loaded.stdout}"


def test_definitions_load_with_jobs_schedule_and_every_bronze_asset() -> None:
    definitions = defs()
    keys = {key.to_user_string() for key in definitions.resolve_all_asset_keys()}
    assert {f"bronze/{table}" for table in NORTHWIND_TABLES} <= keys
    assert {"silver/sales_master", "gold/sales_kpis"} <= keys
    assert definitions.resolve_job_def("bronze_extract") is not None
    assert definitions.get_schedule_def("daily_medallion").cron_schedule == "0 2 * * *"
    assert definitions.get_schedule_def("hourly_sales_events").cron_schedule == "5 * * * *"
    assert definitions.get_schedule_def("hourly_sales_events").job_name == "sales_events_to_gold"
    spec = next(s for s in definitions.resolve_all_asset_specs() if s.key.path == ["bronze", "orders"])
    assert spec.group_name == "bronze"


def test_bronze_silver_and_gold_are_one_lineage() -> None:
    graph = defs().resolve_asset_graph()
    for table in GOLD:
        upstream = graph.upstream_key_iterator(dg.AssetKey(["gold", table]))
        keys = {key.to_user_string() for key in upstream}
        assert "silver/sales_master" in keys
        assert {"bronze/orders", "bronze/order_details", "bronze/customers"} <= keys, table
    groups = {graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == {"bronze", "silver", "gold"}


def test_definitions_hold_the_landing_asset_job_sensor_and_resource(settings: Settings) -> None:
    # Like `bronze_extract`, a job may select the bronze group without the landing check.
    without_checks = dg.define_asset_job("bronze_only", selection=dg.AssetSelection.groups("bronze").without_checks())
    definitions = dg.Definitions.merge(
        landing_assets(),
        landing_jobs(),
        landing_sensors(),
        landing_resources(),
        resources(),
        dg.Definitions(jobs=[without_checks]),
    )
    key = dg.AssetKey(["bronze", "marketplace_orders"])
    job = definitions.resolve_job_def("marketplace_orders_to_gold")
    assert key in job.asset_layer.executable_asset_keys
    assert key in definitions.resolve_job_def("bronze_only").asset_layer.executable_asset_keys
    sensor = definitions.resolve_sensor_def("marketplace_orders_landing_files")
    assert sensor.job_name == "marketplace_orders_to_gold"
    assert sensor.minimum_interval_seconds == settings.sensor_interval_seconds
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    spec = next(s for s in definitions.resolve_all_asset_specs() if s.key.path == ["bronze", "marketplace_orders"])
    assert spec.group_name == "bronze" and spec.kinds == {"iceberg", "python"}


def test_definitions_give_the_event_asset_its_job_sensor_and_resource() -> None:
    settings = Settings()
    definitions = dg.Definitions.merge(event_assets(), event_jobs(), event_sensors(), event_resources(), resources())
    job = definitions.resolve_job_def("sales_events_to_gold")
    assert dg.AssetKey(["bronze", "sales_events"]) in job.asset_layer.executable_asset_keys
    sensor = definitions.resolve_sensor_def("sales_events_kafka_offsets")
    assert sensor.job_name == "sales_events_to_gold"
    assert sensor.minimum_interval_seconds == settings.sensor_interval_seconds
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_code_location_fails_fast_on_a_wrong_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_PROFILE", "prod")
    with pytest.raises(Exception, match="LAKEHOUSE_PROFILE: Input should be 'local' or 'stack'"):
        defs()


@pytest.mark.parametrize("target", ["snowflake"])
def test_unknown_dbt_target_is_a_settings_error(monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    monkeypatch.setenv("LAKEHOUSE_DBT_TARGET", target)
    with pytest.raises(Exception, match="LAKEHOUSE_DBT_TARGET: expected one of duckdb, trino"):
        defs()


def test_secrets_set_in_the_environment_reach_resources_as_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_S3_SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("LAKEHOUSE_SOURCE_URL", "postgresql+psycopg://reader:hidden@db/northwind")
    definitions = defs()
    iceberg = definitions.resources["iceberg"]
    source = definitions.resources["source_database"]
    assert iceberg.s3.secret_key == dg.EnvVar("LAKEHOUSE_S3_SECRET_KEY")
    assert source.url == dg.EnvVar("LAKEHOUSE_SOURCE_URL")
    # A profile default is a public value, passed as it is.
    assert iceberg.uri == Settings().catalog_uri
