{{ config(materialized='incremental', incremental_strategy='overwrite', on_schema_change='append_new_columns') }}

-- The speed layer: sales by country straight from the Kafka events, refreshed with each
-- micro-batch. An incremental run recomputes only the countries of the events loaded since the
-- last build and keeps the others as they stand. A retried event repeats its content, so a copy
-- that arrives later never moves an event to another country.
{%- set incremental = is_incremental() %}
{%- set country = "coalesce(country, 'Unknown')" %}

with {{ changed_groups_input(incremental, 'events', ref('stg_sales_events'), country, '_ingested_at') }},

recomputed as (
    select
        {{ country }} as country,
        cast(round(sum(unit_price * quantity * (1 - discount)), 2) as decimal(18, 2)) as revenue,
        cast(count(*) as bigint) as transactions,
        max(event_time) as last_event_time,
        max(_ingested_at) as _ingested_at
    from events
    group by {{ country }}
)

select * from recomputed
{%- if incremental %}
union all
{{ unchanged_rows('country') }}
{%- endif %}
