"""Reconciliation of gold with silver: the marts add up to the order lines they summarise."""

from decimal import ROUND_HALF_UP, Decimal

import dagster as dg
from dagster_dbt import get_asset_key_for_model

from lakehouse.defs.medallion.assets import DBT_PROJECT_DIR, dbt_models
from lakehouse.defs.resources import IcebergCatalogResource
from lakehouse.engine import LocalEngine
from lakehouse.settings import load_settings

CENT = Decimal("0.01")
# Each mart rounds its rows to cents, so their sum may drift from the rounded total by half a
# cent per row at most.
MARTS_BY_DIMENSION = ("daily_revenue", "revenue_by_country", "revenue_by_category")


def to_cents(amount: Decimal) -> Decimal:
    """``amount`` rounded to cents as the marts' SQL ``round`` does on DuckDB and Trino: half away from
    zero. Python's default, half to even, differs on an exact half cent, about 2 runs in 100."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def gold_revenue_reconciles_with_silver(iceberg: IcebergCatalogResource) -> dg.AssetCheckResult:
    engine = LocalEngine(iceberg.catalog())
    try:
        # A line removed at the source keeps its row in silver, but no gold figure counts it.
        live = "SELECT sum(line_total) FROM silver.sales_master WHERE _removed IS DISTINCT FROM true"
        silver = to_cents(Decimal(str(engine.scalar(live))))
        kpi = Decimal(str(engine.scalar("SELECT total_revenue FROM gold.sales_kpis")))
        differences: dict[str, float] = {"sales_kpis": float(kpi - silver)}
        passed = kpi == silver
        for mart in MARTS_BY_DIMENSION:
            rows, total = engine.query(f"SELECT count(*), sum(revenue) FROM gold.{mart}").to_pylist()[0].values()
            difference = Decimal(str(total)) - silver
            differences[mart] = float(difference)
            passed = passed and abs(difference) <= CENT / 2 * rows
    finally:
        engine.close()
    return dg.AssetCheckResult(
        passed=passed,
        description=f"silver revenue {silver}; gold differences {differences}",
        metadata={"silver_revenue": float(silver), **{f"difference_{k}": v for k, v in differences.items()}},
    )


def gold_reconciliation_check(dbt_models: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    """The reconciliation as a blocking check on `sales_kpis`, keyed by the dbt models it reads."""

    def model(name: str) -> dg.AssetKey:
        return get_asset_key_for_model([dbt_models], name)

    return dg.asset_check(
        asset=model("sales_kpis"),
        additional_deps=[model("sales_master"), *(model(mart) for mart in MARTS_BY_DIMENSION)],
        description="Gold revenue equals silver line totals: to the cent for the KPI, within rounding for each mart.",
        blocking=True,
    )(gold_revenue_reconciles_with_silver)


@dg.definitions
def quality_checks() -> dg.Definitions:
    return dg.Definitions(
        asset_checks=[gold_reconciliation_check(dbt_models(DBT_PROJECT_DIR, load_settings().dbt_target))]
    )
