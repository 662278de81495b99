{{
    config(
        materialized='incremental',
        unique_key=['order_id', 'product_id'],
        incremental_strategy='merge',
        on_schema_change='append_new_columns',
    )
}}

-- One row per order line, denormalised for the marts. New orders are merged in on each run;
-- `dbt build --full-refresh` rebuilds it.
select
    lines.order_id,
    lines.product_id,
    orders.order_date,
    orders.shipped_date,
    orders.customer_id,
    customers.company_name,
    customers.country as customer_country,
    categories.category_name,
    products.product_name,
    lines.unit_price,
    lines.quantity,
    lines.discount,
    cast(lines.unit_price * lines.quantity * (1 - lines.discount) as decimal(18, 4)) as line_total
from {{ ref('stg_order_details') }} as lines
inner join {{ ref('stg_orders') }} as orders on orders.order_id = lines.order_id
left join {{ ref('stg_customers') }} as customers on customers.customer_id = orders.customer_id
left join {{ ref('stg_products') }} as products on products.product_id = lines.product_id
left join {{ ref('stg_categories') }} as categories on categories.category_id = products.category_id
{% if is_incremental() %}
where lines.order_id > (select coalesce(max(order_id), 0) from {{ this }})
{% endif %}
