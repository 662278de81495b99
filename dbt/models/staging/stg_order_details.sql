-- One row per order line, its latest version unless that is its deletion, with money as exact
-- decimals (the source keeps prices as real).
with copies as (
    select
        cast(order_id as integer) as order_id,
        cast(product_id as integer) as product_id,
        cast(unit_price as decimal(10, 2)) as unit_price,
        cast(quantity as integer) as quantity,
        cast(discount as decimal(4, 2)) as discount,
        _commit_lsn as _source_lsn,
        _operation,
        row_number() over (partition by order_id, product_id order by {{ latest_version_first() }}) as copy_rank
    from {{ source('bronze', 'order_details') }}
)

select order_id, product_id, unit_price, quantity, discount, _source_lsn
from copies
where copy_rank = 1 and _operation is distinct from 'delete'
