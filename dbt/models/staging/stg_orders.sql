-- One row per order: the latest copy bronze holds of it.
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
        row_number() over (partition by order_id order by _ingested_at desc) as copy_rank
    from {{ source('bronze', 'orders') }}
)

select
    order_id, customer_id, employee_id, order_date, required_date, shipped_date,
    ship_via, freight, ship_name, ship_city, ship_country
from copies
where copy_rank = 1
