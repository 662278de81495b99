select
    category_name,
    cast(round(sum(line_total), 2) as decimal(18, 2)) as revenue,
    cast(sum(quantity) as bigint) as units,
    cast(count(distinct order_id) as bigint) as orders
from {{ ref('sales_master') }}
group by category_name
