{{ config(materialized='incremental', incremental_strategy='overwrite', on_schema_change='append_new_columns') }}

-- Revenue by the customer's country, ranked. An incremental run recomputes only the countries of
-- the lines merged since the last build (and of the versions they replaced), keeps the other
-- countries' figures as they stand, and ranks them all again.
{%- set incremental = is_incremental() %}

with {{ changed_groups_input(incremental, 'lines', ref('sales_master'), 'customer_country', '_merged_at', '_replaced_customer_country', '_removed is distinct from true') }},

by_country as (
    select
        customer_country as country,
        cast(round(sum(line_total), 2) as decimal(18, 2)) as revenue,
        cast(count(distinct order_id) as bigint) as orders,
        cast(count(distinct customer_id) as bigint) as customers,
        max(_merged_at) as _merged_at
    from lines
    group by customer_country
    {%- if incremental %}
    union all
    {{ unchanged_rows('country', columns='kept.country, kept.revenue, kept.orders, kept.customers, kept._merged_at') }}
    {%- endif %}
)

select
    country,
    revenue,
    orders,
    customers,
    cast(rank() over (order by revenue desc) as bigint) as revenue_rank,
    _merged_at
from by_country
