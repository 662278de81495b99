select
    order_date,
    cast(count(distinct order_id) as bigint) as orders,
    cast(count(*) as bigint) as order_lines,
    cast(sum(quantity) as bigint) as units,
    cast(round(sum(line_total), 2) as decimal(18, 2)) as revenue
from {{ ref('sales_master') }}
group by order_date
