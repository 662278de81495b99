with per_customer as (
    select
        customer_id,
        max(company_name) as company_name,
        max(customer_country) as country,
        count(distinct order_id) as total_orders,
        sum(line_total) as lifetime_value,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date
    from {{ ref('sales_master') }}
    -- Marketplace buyers who are not Northwind customers have no customer_id.
    where customer_id is not null and _removed is distinct from true
    group by customer_id
)

select
    customer_id,
    company_name,
    country,
    cast(total_orders as bigint) as total_orders,
    cast(round(lifetime_value, 2) as decimal(18, 2)) as lifetime_value,
    cast(round(lifetime_value / total_orders, 2) as decimal(18, 2)) as average_order_value,
    first_order_date,
    last_order_date,
    cast({{ dbt.datediff('first_order_date', 'last_order_date', 'day') }} as integer) as customer_lifespan_days
from per_customer
