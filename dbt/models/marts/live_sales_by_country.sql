-- The speed layer: sales by country straight from the Kafka events, refreshed with each micro-batch.
select
    coalesce(country, 'Unknown') as country,
    cast(round(sum(unit_price * quantity * (1 - discount)), 2) as decimal(18, 2)) as revenue,
    cast(count(*) as bigint) as transactions,
    max(event_time) as last_event_time
from {{ ref('stg_sales_events') }}
group by coalesce(country, 'Unknown')
