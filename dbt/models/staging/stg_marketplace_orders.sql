-- One row per marketplace order line, money as exact decimals. A key delivered more than once
-- (a partner that sent a line twice, a corrected file under a new name) keeps its latest delivery:
-- the copy from the file delivered last, then the later line of that file. Rows loaded before
-- bronze recorded deliveries (`_delivered_at` null) lose to any that has one, then go by load.
with copies as (
    select
        marketplace,
        cast(order_id as integer) as order_id,
        cast(product_id as integer) as product_id,
        order_date,
        customer_id,
        {{ standardise_country('country') }} as country,
        cast(quantity as integer) as quantity,
        cast(unit_price as decimal(10, 2)) as unit_price,
        cast(coalesce(discount, 0) as decimal(4, 2)) as discount,
        _source_file as source_file,
        row_number() over (
            partition by marketplace, order_id, product_id
            order by _delivered_at desc nulls last, _ingested_at desc, _source_file desc, _source_row desc nulls last
        ) as copy_rank
    from {{ source('bronze', 'marketplace_orders') }}
)

select
    marketplace, order_id, product_id, order_date, customer_id, country, quantity, unit_price, discount, source_file
from copies
where copy_rank = 1
