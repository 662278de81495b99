{{
    config(
        materialized='incremental',
        unique_key=['channel', 'order_id', 'product_id'],
        incremental_strategy='merge',
        on_schema_change='append_new_columns',
    )
}}

-- One row per order line from every channel, denormalised for the marts: `oltp` lines from the
-- Northwind orders, `marketplace` lines from the partners' landing files. New lines, and
-- marketplace lines whose latest delivery is a new file (a correction), are merged in on each
-- run; `dbt build --full-refresh` rebuilds it. Each merged line carries when it was merged and,
-- for a correction, where the version it replaced stood: the gold aggregates refresh only the
-- groups those touch (macros/incremental.sql).
{%- set incremental = is_incremental() %}
with oltp_lines as (
    select
        lines.order_id,
        lines.product_id,
        orders.order_date,
        orders.shipped_date,
        orders.customer_id,
        customers.country as customer_country,
        lines.unit_price,
        lines.quantity,
        lines.discount,
        cast(null as varchar) as source_file,
        cast(null as timestamp(6)) as _replaced_merged_at,
        cast(null as date) as _replaced_order_date,
        cast(null as varchar) as _replaced_customer_country,
        cast(null as varchar) as _replaced_category_name
    from {{ ref('stg_order_details') }} as lines
    inner join {{ ref('stg_orders') }} as orders on orders.order_id = lines.order_id
    left join {{ ref('stg_customers') }} as customers on customers.customer_id = orders.customer_id
    {% if incremental %}
    where lines.order_id > (select coalesce(max(order_id), 0) from {{ this }} where channel = 'oltp')
    {% endif %}
),

-- Files arrive in any order, so new marketplace lines are the ones not merged yet from the same file.
marketplace_lines as (
    select
        lines.order_id,
        lines.product_id,
        lines.order_date,
        cast(null as date) as shipped_date,
        lines.customer_id,
        coalesce(customers.country, lines.country) as customer_country,
        lines.unit_price,
        lines.quantity,
        lines.discount,
        lines.source_file,
        {%- if incremental %}
        replaced._merged_at as _replaced_merged_at,
        replaced.order_date as _replaced_order_date,
        replaced.customer_country as _replaced_customer_country,
        replaced.category_name as _replaced_category_name
        {%- else %}
        cast(null as timestamp(6)) as _replaced_merged_at,
        cast(null as date) as _replaced_order_date,
        cast(null as varchar) as _replaced_customer_country,
        cast(null as varchar) as _replaced_category_name
        {%- endif %}
    from {{ ref('stg_marketplace_orders') }} as lines
    left join {{ ref('stg_customers') }} as customers on customers.customer_id = lines.customer_id
    {% if incremental %}
    left join {{ this }} as replaced
        on replaced.channel = 'marketplace' and replaced.order_id = lines.order_id and replaced.product_id = lines.product_id
    where not exists (
        select 1 from {{ this }} as merged
        where merged.channel = 'marketplace' and merged.order_id = lines.order_id and merged.product_id = lines.product_id
            and merged.source_file = lines.source_file
    )
    {% endif %}
),

all_lines as (
    select 'oltp' as channel, * from oltp_lines
    union all
    select 'marketplace' as channel, * from marketplace_lines
)

select
    all_lines.channel,
    all_lines.order_id,
    all_lines.product_id,
    all_lines.order_date,
    all_lines.shipped_date,
    all_lines.customer_id,
    customers.company_name,
    all_lines.customer_country,
    categories.category_name,
    products.product_name,
    all_lines.unit_price,
    all_lines.quantity,
    all_lines.discount,
    cast(all_lines.unit_price * all_lines.quantity * (1 - all_lines.discount) as decimal(18, 4)) as line_total,
    all_lines.source_file,
    {{ invocation_timestamp() }} as _merged_at,
    all_lines._replaced_merged_at,
    all_lines._replaced_order_date,
    all_lines._replaced_customer_country,
    all_lines._replaced_category_name
from all_lines
left join {{ ref('stg_customers') }} as customers on customers.customer_id = all_lines.customer_id
left join {{ ref('stg_products') }} as products on products.product_id = all_lines.product_id
left join {{ ref('stg_categories') }} as categories on categories.category_id = products.category_id
