-- One row of headline figures.
with totals as (
    select
        sum(line_total) as revenue,
        count(distinct order_id) as orders,
        count(distinct customer_id) as customers,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date
    from {{ ref('sales_master') }}
    where _removed is distinct from true
)

select
    cast(round(revenue, 2) as decimal(18, 2)) as total_revenue,
    cast(orders as bigint) as orders,
    cast(customers as bigint) as customers,
    cast(round(revenue / orders, 2) as decimal(18, 2)) as average_order_value,
    first_order_date,
    last_order_date
from totals
