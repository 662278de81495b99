"""gold.product_affinity and gold.customer_cohorts: Spark models over silver.sales_master.

One multi-asset, so a run that computes both starts one Spark session. As with the dbt models
(`medallion.plan`), a model is computed only when silver.sales_master, its own table or its code
changed since its last build: a re-run with no new data starts no JVM. Spark reads sales_master
at the snapshot recorded as read, and replaces the model's table in one Iceberg commit. The checks
read the committed table back through DuckDB, as `lakehouse query` does: what Spark writes, the
other engines read.
"""

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pyiceberg.catalog import Catalog

from lakehouse.defs.medallion.plan import INPUTS, REBUILD_TAG, SNAPSHOT, last_build, table_metadata
from lakehouse.defs.resources import IcebergCatalogResource
from lakehouse.defs.spark.resources import SparkResource
from lakehouse.engine import LocalEngine
from lakehouse.iceberg.catalog import current_snapshots
from lakehouse.spark import models
from lakehouse.spark.models import SALES_MASTER, customer_cohorts, product_affinity

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

SALES_MASTER_KEY = dg.AssetKey(SALES_MASTER.split("."))
# Heavy models follow silver at most once an hour (and in the nightly `medallion` batch), not
# after every micro-batch the sensors bring.
HOURLY_AFTER_SALES_MASTER = dg.AutomationCondition.on_cron("0 * * * *")
CODE_VERSION = hashlib.sha256(Path(models.__file__).read_bytes()).hexdigest()[:16]


class SparkModelError(Exception):
    """A Spark model cannot be computed yet."""


@dataclass(frozen=True)
class ModelCheck:
    name: str
    description: str
    violations: str
    """SQL selecting the rows of the model's table that break the check: it passes when none do."""


@dataclass(frozen=True)
class SparkModel:
    name: str
    compute: "Callable[[DataFrame], DataFrame]"
    checks: tuple[ModelCheck, ...]

    @property
    def table(self) -> str:
        return f"gold.{self.name}"

    @property
    def key(self) -> dg.AssetKey:
        return dg.AssetKey(["gold", self.name])


SPARK_MODELS = (
    SparkModel(
        "product_affinity",
        product_affinity,
        (
            ModelCheck(
                "measures_in_range",
                "support and confidence in (0, 1], lift above 0, and at least one order holding both products",
                "select * from gold.product_affinity where not (support > 0 and support <= 1 and confidence > 0 "
                "and confidence <= 1 and lift > 0 and orders_with_both > 0)",
            ),
            ModelCheck(
                "one_rule_per_pair",
                "each (antecedent, consequent) pair once, and never a product with itself",
                "select antecedent_product_id, consequent_product_id from gold.product_affinity group by all "
                "having count(*) > 1 or antecedent_product_id = consequent_product_id",
            ),
        ),
    ),
    SparkModel(
        "customer_cohorts",
        customer_cohorts,
        (
            ModelCheck(
                "first_month_keeps_everyone",
                "in the month of its first orders, every customer of a cohort is active: retention 1",
                "select * from gold.customer_cohorts where months_since_first = 0 "
                "and (active_customers <> cohort_customers or retention <> 1)",
            ),
            ModelCheck(
                "retention_in_range",
                "one row per cohort and month since, never before the first; retention in (0, 1]",
                "select cohort_month, months_since_first from gold.customer_cohorts group by all "
                "having count(*) > 1 or min(months_since_first) < 0 or min(retention) <= 0 or max(retention) > 1",
            ),
        ),
    ),
)


def check_results(catalog: Catalog, model: SparkModel) -> Iterator[dg.AssetCheckResult]:
    engine = LocalEngine(catalog, [("gold", model.name)])
    try:
        for check in model.checks:
            violations = int(engine.scalar(f"select count(*) from ({check.violations})"))
            yield dg.AssetCheckResult(
                asset_key=model.key,
                check_name=check.name,
                passed=violations == 0,
                metadata={"violations": violations},
            )
    finally:
        engine.close()


def build_spark_models() -> dg.AssetsDefinition:
    specs = [
        dg.AssetSpec(
            model.key,
            deps=[SALES_MASTER_KEY],
            description=(model.compute.__doc__ or "").strip(),
            group_name="gold",
            kinds={"spark", "iceberg"},
            code_version=CODE_VERSION,
            automation_condition=HOURLY_AFTER_SALES_MASTER,
            skippable=True,
        )
        for model in SPARK_MODELS
    ]
    check_specs = [
        dg.AssetCheckSpec(check.name, asset=model.key, description=check.description)
        for model in SPARK_MODELS
        for check in model.checks
    ]

    # One Spark run at a time: two would replace the same tables.
    @dg.multi_asset(name="spark_models", specs=specs, check_specs=check_specs, can_subset=True, pool="spark_models")
    def spark_models(
        context: dg.AssetExecutionContext, spark: SparkResource, iceberg: IcebergCatalogResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        catalog = iceberg.catalog()
        selected = [model for model in SPARK_MODELS if model.key in context.selected_asset_keys]
        snapshots = current_snapshots(catalog, [SALES_MASTER, *(model.table for model in selected)])
        if (read := snapshots[SALES_MASTER]) is None:
            raise SparkModelError(
                f"{SALES_MASTER} has no snapshot yet: the dbt models build it first (job `medallion`)"
            )
        rebuild = context.run.tags.get(REBUILD_TAG) == "true"
        for model in selected:
            last = None if rebuild else last_build(context.instance, model.key, [])
            if last is not None and last.matches(CODE_VERSION, snapshots[model.table], {SALES_MASTER: read}):
                context.log.info(f"{model.table} is unchanged since its last build, with {SALES_MASTER}")
                continue
            lines = spark.session().read.option("versionAsOf", read).table(SALES_MASTER)
            model.compute(lines).writeTo(model.table).createOrReplace()
            metadata = table_metadata(catalog, model.key)
            context.log.info(f"{model.table}: {metadata['dagster/row_count']} rows, snapshot {metadata[SNAPSHOT]}")
            yield dg.MaterializeResult(
                asset_key=model.key, metadata={**metadata, INPUTS: dg.MetadataValue.json({SALES_MASTER: read})}
            )
            yield from check_results(catalog, model)

    return spark_models


@dg.definitions
def spark_assets() -> dg.Definitions:
    return dg.Definitions(assets=[build_spark_models()])
