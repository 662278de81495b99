-- Recency, frequency and monetary scores (1-5, 5 best) and a named segment per customer.
-- Recency counts from the last order date in the data, so results are reproducible.
with per_customer as (
    select
        customer_id,
        max(order_date) as last_order_date,
        count(distinct order_id) as frequency,
        sum(line_total) as monetary
    from {{ ref('sales_master') }}
    -- Marketplace buyers who are not Northwind customers have no customer_id.
    where customer_id is not null and _removed is distinct from true
    group by customer_id
),

measured as (
    select
        customer_id,
        cast({{ dbt.datediff('last_order_date', '(select max(last_order_date) from per_customer)', 'day') }} as integer)
            as recency_days,
        cast(frequency as bigint) as frequency,
        cast(round(monetary, 2) as decimal(18, 2)) as monetary
    from per_customer
),

scored as (
    select
        customer_id,
        recency_days,
        frequency,
        monetary,
        cast(ntile(5) over (order by recency_days desc, customer_id) as integer) as r_score,
        cast(ntile(5) over (order by frequency, customer_id) as integer) as f_score,
        cast(ntile(5) over (order by monetary, customer_id) as integer) as m_score
    from measured
)

select
    customer_id,
    recency_days,
    frequency,
    monetary,
    r_score,
    f_score,
    m_score,
    case
        when r_score >= 4 and f_score >= 4 and m_score >= 4 then 'Champions'
        when r_score >= 3 and f_score >= 4 then 'Loyal'
        when r_score >= 4 and f_score <= 2 then 'Promising'
        when r_score <= 2 and f_score >= 3 then 'At Risk'
        when r_score <= 2 and f_score <= 2 then 'Hibernating'
        else 'Needs Attention'
    end as segment
from scored
