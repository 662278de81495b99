-- Revenue by the customer's country.
with by_country as (
    select
        customer_country as country,
        cast(round(sum(line_total), 2) as decimal(18, 2)) as revenue,
        cast(count(distinct order_id) as bigint) as orders,
        cast(count(distinct customer_id) as bigint) as customers
    from {{ ref('sales_master') }}
    group by customer_country
)

select
    country,
    revenue,
    orders,
    customers,
    cast(rank() over (order by revenue desc) as bigint) as revenue_rank
from by_country
