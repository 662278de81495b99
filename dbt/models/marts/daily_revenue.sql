{{ config(materialized='incremental', incremental_strategy='overwrite', on_schema_change='append_new_columns') }}

-- Revenue per order day. An incremental run recomputes only the days that lines merged since the
-- last build are on, or were moved from by a correction, and keeps every other day as it stands.
{%- set incremental = is_incremental() %}

with {{ changed_groups_input(incremental, 'lines', ref('sales_master'), 'order_date', '_merged_at', '_replaced_order_date', '_removed is distinct from true') }},

recomputed as (
    select
        order_date,
        cast(count(distinct order_id) as bigint) as orders,
        cast(count(*) as bigint) as order_lines,
        cast(sum(quantity) as bigint) as units,
        cast(round(sum(line_total), 2) as decimal(18, 2)) as revenue,
        max(_merged_at) as _merged_at
    from lines
    group by order_date
)

select * from recomputed
{%- if incremental %}
union all
{{ unchanged_rows('order_date') }}
{%- endif %}
