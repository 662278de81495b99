"""Bronze through silver to gold on the embedded profile: dbt on DuckDB, every model in Iceberg."""

import os
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from pyiceberg.catalog.sql import SqlCatalog

from lakehouse.defs.medallion.assets import DBT_EXECUTABLE, DBT_PROJECT_DIR
from lakehouse.defs.medallion.plan import REBUILD_TAG
from lakehouse.defs.medallion.resources import dbt_cli
from lakehouse.engine import LocalEngine
from lakehouse.iceberg.catalog import catalog_for, catalog_tables
from lakehouse.iceberg.declarations import landing_declarations
from lakehouse.ingest.database.source import SourceDatabase
from lakehouse.ingest.landing.load import LandingIngestion
from lakehouse.ingest.landing.store import LandingStore, LocalLandingStore, landing_store
from lakehouse.settings import Settings
from tests.medallion import GOLD, BuiltLakehouse, materialize_medallion

# An independent spelling table: the test must not reuse the dbt macro it checks.
COUNTRY_NAMES = {"USA": "United States", "U.S.A.": "United States", "United States": "United States",
                 "UK": "United Kingdom", "U.K.": "United Kingdom", "Deutschland": "Germany", "Brasil": "Brazil",
                 "España": "Spain", "México": "Mexico", "Italia": "Italy", "Sverige": "Sweden", "Suomi": "Finland",
                 "Österreich": "Austria", "france": "France"}  # fmt: skip
CENT = Decimal("0.01")
[LANDING] = landing_declarations()


def engine(settings: Settings) -> LocalEngine:
    return LocalEngine(catalog_for(settings))


def revenue_from_bronze(settings: Settings, dimension: str) -> dict[str, Decimal]:
    """Revenue per customer country or category, straight from bronze, not through dbt."""
    column = {"country": "c.country", "category": "cat.category_name"}[dimension]
    rows = (
        engine(settings)
        .query(
            f"""
        SELECT {column} AS name,
               sum(CAST(d.unit_price AS DECIMAL(10, 2)) * d.quantity
                   * (1 - CAST(d.discount AS DECIMAL(4, 2)))) AS revenue
        FROM bronze.order_details d
        JOIN bronze.orders o USING (order_id)
        JOIN bronze.customers c USING (customer_id)
        JOIN bronze.products p USING (product_id)
        JOIN bronze.categories cat USING (category_id)
        GROUP BY 1
        """
        )
        .to_pylist()
    )
    totals: dict[str, Decimal] = {}
    for row in rows:
        name = COUNTRY_NAMES.get(row["name"], row["name"]) if dimension == "country" else row["name"]
        totals[name] = totals.get(name, Decimal(0)) + row["revenue"]
    return {name: revenue.quantize(CENT) for name, revenue in totals.items()}


def gold_revenue(settings: Settings, table: str, key: str) -> dict[str, Decimal]:
    rows = engine(settings).query(f"SELECT {key} AS name, revenue FROM gold.{table}").to_pylist()
    return {row["name"]: row["revenue"] for row in rows}


def test_medallion_builds_gold_equal_to_bronze_to_the_cent(classic_lakehouse: BuiltLakehouse) -> None:
    settings, result = classic_lakehouse.settings, classic_lakehouse.run
    assert result.success
    failed = [
        f"{e.asset_key.to_user_string()} {e.check_name}" for e in result.get_asset_check_evaluations() if not e.passed
    ]
    assert failed == []
    assert gold_revenue(settings, "revenue_by_country", "country") == revenue_from_bronze(settings, "country")
    assert gold_revenue(settings, "revenue_by_category", "category_name") == revenue_from_bronze(settings, "category")

    catalog = catalog_for(settings)
    for table in GOLD:
        assert catalog.load_table(("gold", table)).scan().to_arrow().num_rows > 0, table
    master = catalog.load_table(("silver", "sales_master")).scan().to_arrow()
    assert master.num_rows == 2155
    assert master.schema.field("line_total").type.scale == 4
    kpis = engine(settings).query("SELECT * FROM gold.sales_kpis").to_pylist()[0]
    assert kpis["orders"] == 830
    assert kpis["total_revenue"] == sum(revenue_from_bronze(settings, "category").values())

    materialized = {
        event.step_materialization_data.materialization.asset_key.to_user_string(): {
            k: v.value for k, v in event.step_materialization_data.materialization.metadata.items()
        }
        for event in result.get_asset_materialization_events()
    }
    assert materialized["gold/sales_kpis"]["dagster/row_count"] == 1
    assert str(materialized["silver/sales_master"]["snapshot_id"]).isdigit()


def test_new_orders_are_merged_into_silver_and_reach_gold(settings: Settings, classic_source: SourceDatabase) -> None:
    assert materialize_medallion(settings).success
    with classic_source.engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO orders (order_id, customer_id, order_date) "
                "SELECT order_id + 1000, customer_id, '1998-05-06' FROM orders WHERE order_id > 11070"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO order_details SELECT order_id + 1000, product_id, unit_price, quantity, discount "
                "FROM order_details WHERE order_id > 11070"
            )
        )
        new_lines = connection.execute(sa.text("SELECT count(*) FROM order_details WHERE order_id > 12070")).scalar()
    assert materialize_medallion(settings).success
    catalog = catalog_for(settings)
    master = catalog.load_table(("silver", "sales_master"))
    keys = master.scan(selected_fields=("order_id", "product_id")).to_arrow()
    assert keys.num_rows == 2155 + new_lines
    assert keys.group_by(["order_id", "product_id"]).aggregate([]).num_rows == keys.num_rows
    assert master.current_snapshot().summary.operation.value in {"append", "overwrite"}
    assert engine(settings).scalar("SELECT orders FROM gold.sales_kpis") == 837

    dbt_cli(settings).cli(["build", "--full-refresh", "--select", "sales_master+"]).wait()
    assert catalog.load_table(("silver", "sales_master")).scan().to_arrow().num_rows == 2155 + new_lines


MARKETPLACE_HEADER = "marketplace,order_id,product_id,order_date,customer_id,country,quantity,unit_price,discount\n"


def delivered_at(store: LandingStore, path: str, text: str, seconds_ago: float) -> None:
    store.write(path, (MARKETPLACE_HEADER + text).encode())
    then = time.time() - seconds_ago
    os.utime(settings_path(store, path), (then, then))


def settings_path(store: LandingStore, path: str) -> Path:
    assert isinstance(store, LocalLandingStore)
    return store.root / path


@pytest.mark.bad_input
def test_duplicates_and_corrections_never_block_and_gold_keeps_the_latest_delivery(
    settings: Settings, classic_source: SourceDatabase, catalog: SqlCatalog
) -> None:
    store = landing_store(settings)
    # The partner sends one line twice in a file, then corrects another in a file delivered later;
    # both files are taken by the same load, so only their delivery times tell which is the latest.
    first_line = "ebay,1700000001,11,1998-05-01,,France,2,10.00,0\n"
    delivered_at(
        store,
        "marketplace_orders/a.csv",
        first_line + first_line + "ebay,1700000002,12,1998-05-01,,France,1,10.00,0\n",
        120,
    )
    delivered_at(store, "marketplace_orders/0-fix.csv", "ebay,1700000002,12,1998-05-01,,France,7,10.00,0\n", 60)
    LandingIngestion(catalog, store, LANDING).run()

    first = materialize_medallion(settings)
    # A later correction of the corrected line, merged into the existing sales_master.
    delivered_at(store, "marketplace_orders/b.csv", "ebay,1700000002,12,1998-05-01,,France,4,10.00,0\n", 0)
    LandingIngestion(catalog, store, LANDING).run()
    second = materialize_medallion(settings)

    for result in (first, second):
        assert result.success
        blocking = [
            e.check_name for e in result.get_asset_check_evaluations() if not e.passed and e.severity.value == "ERROR"
        ]
        assert blocking == []
    lines = (
        engine(settings)
        .query(
            "SELECT order_id, quantity, source_file FROM silver.sales_master "
            "WHERE channel = 'marketplace' ORDER BY order_id"
        )
        .to_pylist()
    )
    assert lines == [
        {"order_id": 1700000001, "quantity": 2, "source_file": "marketplace_orders/a.csv"},
        {"order_id": 1700000002, "quantity": 4, "source_file": "marketplace_orders/b.csv"},
    ]
    oltp_revenue = sum(revenue_from_bronze(settings, "category").values())
    assert engine(settings).scalar("SELECT total_revenue FROM gold.sales_kpis") == oltp_revenue + Decimal("60.00")


def current_snapshots(catalog: SqlCatalog) -> dict[str, int | None]:
    snapshots = {}
    for namespace, name in catalog_tables(catalog):
        snapshot = catalog.load_table((namespace, name)).current_snapshot()
        snapshots[f"{namespace}.{name}"] = snapshot.snapshot_id if snapshot is not None else None
    return snapshots


def land_one_line(settings: Settings, catalog: SqlCatalog, path: str, line: str) -> None:
    """A marketplace file of one ``line``, delivered a minute ago and loaded into bronze."""
    store = landing_store(settings)
    delivered_at(store, path, line + "\n", 60)
    LandingIngestion(catalog, store, LANDING).run()


def built_models(result: dg.ExecuteInProcessResult) -> set[str]:
    return {
        event.asset_key.to_user_string()
        for event in result.get_asset_materialization_events()
        if event.asset_key.path[0] in {"silver", "gold"}
    }


def test_a_rerun_without_new_data_writes_no_snapshot_and_a_delivery_builds_only_what_reads_it(
    settings: Settings, classic_source: SourceDatabase, catalog: SqlCatalog
) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        assert materialize_medallion(settings, instance).success
        built = current_snapshots(catalog)

        rerun = materialize_medallion(settings, instance)
        assert rerun.success
        assert built_models(rerun) == set()
        assert current_snapshots(catalog) == built

        land_one_line(settings, catalog, "marketplace_orders/a.csv", "ebay,1700000001,11,1998-05-01,,France,2,10.00,0")
        delivery = materialize_medallion(settings, instance)
        assert delivery.success
        # The models that read the marketplace lines, and none other.
        assert built_models(delivery) == {
            "silver/stg_marketplace_orders", "silver/sales_master", "gold/daily_revenue", "gold/revenue_by_country",
            "gold/revenue_by_category", "gold/sales_kpis", "gold/customer_rfm", "gold/customer_lifetime_value",
            "gold/sales_unified",
        }  # fmt: skip
        changed = {name for name, snapshot in current_snapshots(catalog).items() if snapshot != built.get(name)}
        assert changed == {"bronze.marketplace_orders"} | {name.replace("/", ".") for name in built_models(delivery)}
        assert engine(settings).scalar("SELECT count(*) FROM gold.sales_unified WHERE channel = 'marketplace'") == 1

        # A run tagged to rebuild builds every model, whatever changed.
        rebuild = materialize_medallion(settings, instance, tags={REBUILD_TAG: "true"})
        assert len(built_models(rebuild)) == 16


def test_a_model_whose_blocking_test_failed_is_built_and_tested_again_before_what_reads_it(
    settings: Settings, classic_source: SourceDatabase, catalog: SqlCatalog
) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        assert materialize_medallion(settings, instance).success
        land_one_line(
            settings, catalog, "marketplace_orders/bad.csv", "ebay,1700000001,11,1998-05-01,,France,-2,10.00,0"
        )
        for attempt in range(2):
            run = materialize_medallion(settings, instance)
            assert not run.success
            failed = [e.check_name for e in run.get_asset_check_evaluations() if not e.passed]
            assert failed == ["non_negative_stg_marketplace_orders_quantity"], attempt
            # The second run has no new data, yet the model is built and tested again: nothing
            # downstream reads the line that failed its test.
            assert built_models(run) == {"silver/stg_marketplace_orders"}, attempt
        assert engine(settings).scalar("SELECT count(*) FROM silver.sales_master WHERE quantity < 0") == 0


def test_the_dbt_unit_tests_pass(classic_lakehouse: BuiltLakehouse) -> None:
    # Their inputs are typed by the upstream relations, which the built lakehouse has.
    invocation = dbt_cli(classic_lakehouse.settings).cli(["test", "--select", "test_type:unit"], raise_on_error=False)
    invocation.wait()
    results = invocation.get_artifact("run_results.json")["results"]
    assert invocation.is_successful(), [(r["unique_id"], r["status"], r["message"]) for r in results]
    assert sorted(r["unique_id"].split(".")[-1] for r in results if r["status"] == "pass") == [
        "daily_revenue_refreshes_only_the_days_that_changed",
        "sales_master_applies_the_source_changes_incrementally",
        "sales_master_merges_oltp_and_marketplace_lines",
        "sales_master_merges_only_new_lines_incrementally",
        "sales_unified_drops_events_the_batch_has",
    ]


def test_every_model_compiles_on_both_targets(settings: Settings) -> None:
    for target in ("duckdb", "trino"):
        completed = subprocess.run(
            [DBT_EXECUTABLE, "compile", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
             "--target", target, "--target-path", str(settings.home / target), "--no-populate-cache",
             "--no-introspect"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert completed.returncode == 0, completed.stdout[-3000:]
        compiled = settings.home / target / "compiled" / "lakehouse" / "models"
        assert (compiled / "marts" / "customer_rfm.sql").exists()


def test_runs_leave_no_dbt_artifacts_behind(settings: Settings, classic_source: SourceDatabase) -> None:
    """Each dbt invocation writes about 5 MB of artifacts: under LAKEHOUSE_HOME, removed once it
    succeeded, so neither the checkout's dbt/target (the build-time manifest) nor the lakehouse grows."""
    checkout_target = DBT_PROJECT_DIR / "target"
    before = {path for path in checkout_target.iterdir() if path.is_dir()}

    assert all(materialize_medallion(settings).success for _ in range(2))

    assert {path for path in checkout_target.iterdir() if path.is_dir()} - before == set()
    assert list((settings.home / "dbt" / "target").iterdir()) == []


def test_an_invocation_reuses_the_build_time_partial_parse(settings: Settings) -> None:
    """A target directory under LAKEHOUSE_HOME still starts from the manifest `make install` parsed:
    without it every run would parse the whole project again."""
    invocation = dbt_cli(settings).cli(["parse"]).wait()

    assert invocation.target_path.parent == settings.home / "dbt" / "target"
    log = (invocation.target_path / "dbt.log").read_text()
    assert "Partial parsing enabled" in log and "Unable to do partial parsing" not in log
