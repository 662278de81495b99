"""The Spark models' tables in plain DuckDB SQL (`lakehouse/spark/models.py`), over a relation named
``sales_master``: the tests compare Spark's tables with them, and `bench/spark.py` times them as
the single-machine alternative."""

LIVE_LINES = "select * from sales_master where _removed is distinct from true"

PRODUCT_AFFINITY = f"""
with lines as ({LIVE_LINES}),
baskets as (select distinct channel, order_id, product_id from lines),
orders as (select count(*) as orders from (select distinct channel, order_id from baskets)),
products as (
    select b.product_id, count(*) as product_orders, any_value(n.product_name) as product_name
    from baskets b
    join (select product_id, max(product_name) as product_name from lines group by product_id) n using (product_id)
    group by b.product_id
),
pairs as (
    select l.product_id as antecedent_product_id, r.product_id as consequent_product_id, count(*) as orders_with_both
    from baskets l
    join baskets r on l.channel = r.channel and l.order_id = r.order_id and l.product_id <> r.product_id
    group by all
)
select
    pairs.antecedent_product_id,
    a.product_name as antecedent_product_name,
    pairs.consequent_product_id,
    c.product_name as consequent_product_name,
    orders_with_both,
    orders_with_both / orders as support,
    orders_with_both / a.product_orders as confidence,
    orders_with_both * orders / (a.product_orders * c.product_orders) as lift
from pairs
join products a on a.product_id = pairs.antecedent_product_id
join products c on c.product_id = pairs.consequent_product_id
cross join orders
"""

CUSTOMER_COHORTS = f"""
with lines as (
    select customer_id, date_trunc('month', order_date) as order_month, line_total
    from ({LIVE_LINES}) where customer_id is not null
),
firsts as (select customer_id, min(order_month) as cohort_month from lines group by customer_id),
sizes as (select cohort_month, count(*) as cohort_customers from firsts group by cohort_month),
activity as (
    select
        cohort_month,
        date_diff('month', cohort_month, order_month) as months_since_first,
        count(distinct customer_id) as active_customers,
        sum(line_total) as revenue
    from lines join firsts using (customer_id)
    group by all
)
select
    cast(cohort_month as date) as cohort_month,
    cast(months_since_first as integer) as months_since_first,
    cohort_customers,
    active_customers,
    active_customers / cohort_customers as retention,
    cast(round(revenue, 2) as decimal(18, 2)) as revenue
from activity join sizes using (cohort_month)
"""

# Each Spark model's name, and its SQL.
REFERENCE_SQL = {"product_affinity": PRODUCT_AFFINITY, "customer_cohorts": CUSTOMER_COHORTS}
