{{ config(materialized='incremental', incremental_strategy='overwrite', on_schema_change='append_new_columns') }}

-- Revenue by product category. An incremental run recomputes only the categories of the lines
-- merged since the last build (and of the versions they replaced), keeping the others as they stand.
{%- set incremental = is_incremental() %}

with {{ changed_groups_input(incremental, 'lines', ref('sales_master'), 'category_name', '_merged_at', '_replaced_category_name', '_removed is distinct from true') }},

recomputed as (
    select
        category_name,
        cast(round(sum(line_total), 2) as decimal(18, 2)) as revenue,
        cast(sum(quantity) as bigint) as units,
        cast(count(distinct order_id) as bigint) as orders,
        max(_merged_at) as _merged_at
    from lines
    group by category_name
)

select * from recomputed
{%- if incremental %}
union all
{{ unchanged_rows('category_name') }}
{%- endif %}
