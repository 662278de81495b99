-- One row per sales event. A producer that retries sends the same event_id again; the copy
-- delivered first (lowest partition and offset) is kept.
with copies as (
    select
        event_id,
        event_time,
        cast(order_id as integer) as order_id,
        customer_id,
        {{ standardise_country('country') }} as country,
        cast(product_id as integer) as product_id,
        cast(quantity as integer) as quantity,
        cast(unit_price as decimal(10, 2)) as unit_price,
        cast(coalesce(discount, 0) as decimal(4, 2)) as discount,
        _ingested_at,
        row_number() over (partition by event_id order by _kafka_partition, _kafka_offset) as copy_rank
    from {{ source('bronze', 'sales_events') }}
)

select event_id, event_time, order_id, customer_id, country, product_id, quantity, unit_price, discount, _ingested_at
from copies
where copy_rank = 1
