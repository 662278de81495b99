-- One row per order: the latest version bronze holds of it, unless that version is its deletion.
with copies as (
    select
        cast(order_id as integer) as order_id,
        customer_id,
        cast(employee_id as integer) as employee_id,
        order_date,
        required_date,
        shipped_date,
        cast(ship_via as integer) as ship_via,
        cast(freight as decimal(10, 2)) as freight,
        ship_name,
        ship_city,
        {{ standardise_country('ship_country') }} as ship_country,
        _commit_lsn as _source_lsn,
        _operation,
        row_number() over (partition by order_id order by {{ latest_version_first() }}) as copy_rank
    from {{ source('bronze', 'orders') }}
)

select
    order_id, customer_id, employee_id, order_date, required_date, shipped_date,
    ship_via, freight, ship_name, ship_city, ship_country, _source_lsn
from copies
where copy_rank = 1 and _operation is distinct from 'delete'
