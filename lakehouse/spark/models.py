"""The gold models Spark computes from silver.sales_master, in PySpark's DataFrame API.

Both join every order line with others: a market basket's pairs of products, and each customer's
months of activity against the month they first ordered. Work of this shape outgrows one machine
long before the dbt models' group-bys do.
"""

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

SALES_MASTER = "silver.sales_master"


def live_lines(sales_master: DataFrame) -> DataFrame:
    """The order lines still standing: a line deleted at its source stays in silver as `_removed`."""
    return sales_master.where(~F.coalesce(F.col("_removed"), F.lit(False)))


def product_affinity(sales_master: DataFrame) -> DataFrame:
    """One rule per ordered pair of products bought in the same order (a basket: one channel's
    order): ``antecedent`` → ``consequent``, with

    - support: the share of all orders holding both;
    - confidence: the share of the orders holding the antecedent that hold the consequent too;
    - lift: confidence over the consequent's own share of orders; above 1, bought together more
      often than chance.
    """
    lines = live_lines(sales_master)
    # Each basket's products gathered once, its pairs made where it lies: one shuffle of the
    # lines, where a self-join of the lines would sort and shuffle them twice more.
    baskets = lines.groupBy("channel", "order_id").agg(F.collect_set("product_id").alias("products"))
    bought = baskets.select(F.explode("products").alias("product_id"), "products")
    pairs = (
        bought.select(
            F.col("product_id").alias("antecedent_product_id"),
            F.explode("products").alias("consequent_product_id"),
        )
        .where(F.col("antecedent_product_id") != F.col("consequent_product_id"))
        .groupBy("antecedent_product_id", "consequent_product_id")
        .agg(F.count(F.lit(1)).alias("orders_with_both"))
    )
    orders = baskets.agg(F.count(F.lit(1)).alias("orders"))
    products = bought.groupBy("product_id").agg(F.count(F.lit(1)).alias("product_orders"))
    names = lines.groupBy("product_id").agg(F.max("product_name").alias("product_name"))

    def side(name: str) -> DataFrame:
        return products.join(names, "product_id").select(
            F.col("product_id").alias(f"{name}_product_id"),
            F.col("product_name").alias(f"{name}_product_name"),
            F.col("product_orders").alias(f"{name}_orders"),
        )

    both = F.col("orders_with_both").cast("double")
    return (
        pairs.join(side("antecedent"), "antecedent_product_id")
        .join(side("consequent"), "consequent_product_id")
        .crossJoin(orders)
        .select(
            F.col("antecedent_product_id").cast("int"),
            "antecedent_product_name",
            F.col("consequent_product_id").cast("int"),
            "consequent_product_name",
            "orders_with_both",
            (both / F.col("orders")).alias("support"),
            (both / F.col("antecedent_orders")).alias("confidence"),
            (both * F.col("orders") / (F.col("antecedent_orders") * F.col("consequent_orders"))).alias("lift"),
        )
    )


def _month_number(month: Column) -> Column:
    return F.year(month) * 12 + F.month(month)


def customer_cohorts(sales_master: DataFrame) -> DataFrame:
    """Monthly acquisition cohorts: the customers whose first order fell in ``cohort_month``, and,
    ``months_since_first`` months later, how many of them ordered (``retention`` of the cohort)
    and what they spent. Lines without a Northwind customer are left out."""
    lines = (
        live_lines(sales_master)
        .where(F.col("customer_id").isNotNull())
        .select("customer_id", F.trunc("order_date", "month").alias("order_month"), "line_total")
    )
    first = lines.groupBy("customer_id").agg(F.min("order_month").alias("cohort_month"))
    sizes = first.groupBy("cohort_month").agg(F.count(F.lit(1)).alias("cohort_customers"))
    activity = (
        lines.join(first, "customer_id")
        .withColumn("months_since_first", _month_number(F.col("order_month")) - _month_number(F.col("cohort_month")))
        .groupBy("cohort_month", "months_since_first")
        .agg(F.countDistinct("customer_id").alias("active_customers"), F.sum("line_total").alias("revenue"))
    )
    return activity.join(sizes, "cohort_month").select(
        "cohort_month",
        F.col("months_since_first").cast("int"),
        "cohort_customers",
        "active_customers",
        (F.col("active_customers") / F.col("cohort_customers")).alias("retention"),
        F.round("revenue", 2).cast("decimal(18,2)").alias("revenue"),
    )
