"""Which models a run builds, worked out on the project's own manifest (prepared by `make install`)."""

import copy
import json
from collections.abc import Iterable
from typing import Any

import pytest

from lakehouse.defs.medallion.assets import DBT_PROJECT_DIR
from lakehouse.defs.medallion.plan import (
    LastBuild,
    model_code_version,
    model_inputs,
    plan_build,
    project_macros,
    table_name,
)

MANIFEST: dict[str, Any] = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
MODELS = [unique_id for unique_id in MANIFEST["nodes"] if unique_id.startswith("model.")]
TABLES = [table_name(MANIFEST, unique_id) for unique_id in [*MODELS, *MANIFEST["sources"]]]
TESTS = {unique_id for unique_id, node in MANIFEST["nodes"].items() if node["resource_type"] == "test"}
SNAPSHOTS = {name: str(1000 + number) for number, name in enumerate(TABLES)}


def recorded(manifest: dict[str, Any], snapshots: dict[str, str]) -> dict[str, LastBuild]:
    """Every model's last build, as if each was built from today's ``snapshots``."""
    macros = project_macros(manifest)
    return {
        unique_id: LastBuild(
            code_version=model_code_version(manifest["nodes"][unique_id], macros),
            snapshot=snapshots[table_name(manifest, unique_id)],
            inputs={
                table_name(manifest, parent): snapshots[table_name(manifest, parent)]
                for parent in model_inputs(manifest, unique_id)
            },
        )
        for unique_id in MODELS
    }


def names(unique_ids: Iterable[str]) -> set[str]:
    return {MANIFEST["nodes"][unique_id]["name"] for unique_id in unique_ids}


def test_models_never_built_are_built() -> None:
    plan = plan_build(MANIFEST, MODELS, SNAPSHOTS, lambda unique_id: None)
    assert plan.build == set(MODELS)
    assert plan.unchanged == set()


def test_nothing_is_built_when_no_table_changed_and_only_the_unread_source_keeps_its_tests() -> None:
    builds = recorded(MANIFEST, SNAPSHOTS)
    plan = plan_build(MANIFEST, MODELS, SNAPSHOTS, builds.get)
    assert plan.build == set()
    assert plan.unchanged == set(MODELS)
    kept = TESTS - plan.excluded_tests
    # No model reads bronze.employees: its tests run with every build.
    assert {MANIFEST["nodes"][test]["depends_on"]["nodes"][0] for test in kept} == {"source.lakehouse.bronze.employees"}


def test_new_bronze_rows_build_the_models_that_read_them_and_every_model_downstream() -> None:
    builds = recorded(MANIFEST, SNAPSHOTS)
    plan = plan_build(MANIFEST, MODELS, SNAPSHOTS | {"bronze.sales_events": "2000"}, builds.get)
    assert names(plan.build) == {"stg_sales_events", "sales_unified", "live_sales_by_country"}
    assert "stg_orders" in names(plan.unchanged)
    tests_run = names(TESTS - plan.excluded_tests)
    assert "unique_stg_sales_events_event_id" in tests_run
    assert "unique_stg_orders_order_id" not in tests_run
    assert "source_not_null_bronze_sales_events_event_id" in tests_run
    assert "source_not_null_bronze_orders_order_id" not in tests_run


def test_only_the_selected_models_are_planned() -> None:
    builds = recorded(MANIFEST, SNAPSHOTS)
    selected = [unique_id for unique_id in MODELS if MANIFEST["nodes"][unique_id]["name"] == "daily_revenue"]
    plan = plan_build(MANIFEST, selected, SNAPSHOTS | {"bronze.orders": "2000"}, builds.get)
    # stg_orders is stale but not selected: daily_revenue reads sales_master, which is unchanged.
    assert names(plan.build) == set()
    assert names(plan.unchanged) == {"daily_revenue"}


@pytest.mark.parametrize(
    "change",
    ["the model's own table moved on", "its SQL changed", "a project macro changed", "Dagster has no inputs"],
)
def test_a_model_is_built_again_when(change: str) -> None:
    manifest = copy.deepcopy(MANIFEST)
    builds = recorded(manifest, SNAPSHOTS)
    snapshots = dict(SNAPSHOTS)
    [master] = [unique_id for unique_id in MODELS if manifest["nodes"][unique_id]["name"] == "sales_master"]
    if change == "the model's own table moved on":
        snapshots["silver.sales_master"] = "2000"
    elif change == "its SQL changed":
        manifest["nodes"][master]["raw_code"] += "\n-- changed"
    elif change == "a project macro changed":
        macro = next(macro for macro in manifest["macros"].values() if macro["package_name"] == "lakehouse")
        macro["macro_sql"] += "\n"
    else:
        del builds[master]
    plan = plan_build(manifest, MODELS, snapshots, builds.get)
    if change == "a project macro changed":
        assert plan.build == set(MODELS)
    else:
        assert names(plan.build) == {
            "sales_master", "daily_revenue", "revenue_by_country", "revenue_by_category", "sales_kpis",
            "customer_rfm", "customer_lifetime_value", "sales_unified",
        }  # fmt: skip


def test_a_rebuild_builds_every_selected_model() -> None:
    builds = recorded(MANIFEST, SNAPSHOTS)
    assert plan_build(MANIFEST, MODELS, SNAPSHOTS, builds.get, rebuild=True).build == set(MODELS)
