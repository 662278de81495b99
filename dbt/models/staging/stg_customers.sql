with copies as (
    select
        customer_id,
        trim(company_name) as company_name,
        contact_name,
        city,
        region,
        {{ standardise_country('country') }} as country,
        row_number() over (partition by customer_id order by _ingested_at desc) as copy_rank
    from {{ source('bronze', 'customers') }}
)

select customer_id, company_name, contact_name, city, region, country
from copies
where copy_rank = 1
