{{
    config(
        materialized='incremental',
        unique_key=['channel', 'order_id', 'product_id'],
        incremental_strategy='merge',
        on_schema_change='append_new_columns',
    )
}}

-- One row per order line from every channel, denormalised for the marts: `oltp` lines from the
-- Northwind orders, `marketplace` lines from the partners' landing files. Each run merges in new
-- lines; `oltp` lines whose line or order changed at the source (captured from its change log:
-- a later `_source_lsn` than any merged yet); marketplace lines whose latest delivery is a new
-- file (a correction); and, for an `oltp` line gone from the source, its row marked `_removed`.
-- `dbt build --full-refresh` rebuilds it. Each merged line carries when it was merged and, for a
-- change, where the version it replaced stood: the gold aggregates refresh only the groups those
-- touch (macros/incremental.sql), and count no removed line.
{%- set incremental = is_incremental() %}
with source_lines as (
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
        greatest(lines._source_lsn, orders._source_lsn) as _source_lsn
    from {{ ref('stg_order_details') }} as lines
    inner join {{ ref('stg_orders') }} as orders on orders.order_id = lines.order_id
    left join {{ ref('stg_customers') }} as customers on customers.customer_id = orders.customer_id
),

oltp_lines as (
    select
        lines.order_id,
        lines.product_id,
        lines.order_date,
        lines.shipped_date,
        lines.customer_id,
        lines.customer_country,
        lines.unit_price,
        lines.quantity,
        lines.discount,
        cast(null as varchar) as source_file,
        lines._source_lsn,
        false as _removed,
        {{ replaced_version(incremental) }}
    from source_lines as lines
    {% if incremental %}
    left join {{ this }} as replaced
        on replaced.channel = 'oltp' and replaced.order_id = lines.order_id and replaced.product_id = lines.product_id
    -- Changed since the last merge; from a source without a change log, new orders only.
    where lines._source_lsn > (select max(_source_lsn) from {{ this }} where channel = 'oltp')
        or (lines._source_lsn is null
            and lines.order_id > (select coalesce(max(order_id), 0) from {{ this }} where channel = 'oltp'))
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
        cast(null as bigint) as _source_lsn,
        false as _removed,
        {{ replaced_version(incremental) }}
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

{% if incremental -%}
-- Merged `oltp` lines the source no longer has: the line or its order was deleted.
removed_lines as (
    select
        gone.order_id,
        gone.product_id,
        gone.order_date,
        gone.shipped_date,
        gone.customer_id,
        gone.customer_country,
        gone.unit_price,
        gone.quantity,
        gone.discount,
        gone.source_file,
        gone._source_lsn,
        true as _removed,
        {{ replaced_version(incremental, 'gone') }}
    from {{ this }} as gone
    where gone.channel = 'oltp' and not gone._removed and not exists (
        select 1 from source_lines as lines where lines.order_id = gone.order_id and lines.product_id = gone.product_id
    )
),

{% endif -%}
all_lines as (
    select 'oltp' as channel, * from oltp_lines
    union all
    select 'marketplace' as channel, * from marketplace_lines
    {%- if incremental %}
    union all
    select 'oltp' as channel, * from removed_lines
    {%- endif %}
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
    all_lines._source_lsn,
    all_lines._removed,
    {{ invocation_timestamp() }} as _merged_at,
    all_lines._replaced_merged_at,
    all_lines._replaced_order_date,
    all_lines._replaced_customer_country,
    all_lines._replaced_category_name
from all_lines
left join {{ ref('stg_customers') }} as customers on customers.customer_id = all_lines.customer_id
left join {{ ref('stg_products') }} as products on products.product_id = all_lines.product_id
left join {{ ref('stg_categories') }} as categories on categories.category_id = products.category_id
