with copies as (
    select
        cast(product_id as integer) as product_id,
        trim(product_name) as product_name,
        cast(category_id as integer) as category_id,
        cast(unit_price as decimal(10, 2)) as list_price,
        discontinued = 1 as is_discontinued,
        row_number() over (partition by product_id order by _ingested_at desc) as copy_rank
    from {{ source('bronze', 'products') }}
)

select product_id, product_name, category_id, list_price, is_discontinued
from copies
where copy_rank = 1
