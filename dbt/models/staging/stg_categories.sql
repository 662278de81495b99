with copies as (
    select
        cast(category_id as integer) as category_id,
        trim(category_name) as category_name,
        description,
        row_number() over (partition by category_id order by _ingested_at desc) as copy_rank
    from {{ source('bronze', 'categories') }}
)

select category_id, category_name, description
from copies
where copy_rank = 1
