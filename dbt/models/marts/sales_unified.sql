-- Batch sales plus the streamed events the batch does not have yet.
--
-- De-duplication rule: events are first reduced to one per event_id (stg_sales_events). An event
-- describes a Northwind order line, so once the batch has extracted that line (an `oltp` row of
-- sales_master with the same order_id and product_id) the batch row stands and the event is
-- dropped; until then the event stands in for it, with layer `speed`. A line removed from the
-- source stays removed: its event does not stand in for it.
with batch_lines as (
    select
        'batch' as layer,
        channel,
        order_id,
        product_id,
        order_date as sale_date,
        customer_id,
        customer_country as country,
        quantity,
        unit_price,
        discount,
        line_total
    from {{ ref('sales_master') }}
    where _removed is distinct from true
),

events_not_in_batch as (
    select
        'speed' as layer,
        'oltp' as channel,
        events.order_id,
        events.product_id,
        cast(events.event_time at time zone 'UTC' as date) as sale_date,
        events.customer_id,
        events.country,
        events.quantity,
        events.unit_price,
        events.discount,
        cast(events.unit_price * events.quantity * (1 - events.discount) as decimal(18, 4)) as line_total
    from {{ ref('stg_sales_events') }} as events
    where not exists (
        select 1 from {{ ref('sales_master') }} as batch
        where batch.channel = 'oltp' and batch.order_id = events.order_id and batch.product_id = events.product_id
    )
)

select * from batch_lines
union all
select * from events_not_in_batch
