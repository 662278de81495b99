{#-
  Incremental models on both targets.

  sales_master stamps each line it merges with `_merged_at`, the start of the dbt invocation that
  merged it, and a line that replaces an earlier version (a marketplace correction) with that
  version's `_replaced_*` values. Builds of the models are one at a time (the dbt step runs in a
  pool that admits one step), so a later merge always carries a later stamp.

  A gold aggregate is small, so an incremental run of one recomputes only the groups that changed
  since the table was last built, keeps every other row as it stands, and writes the whole table
  in one snapshot (strategy `overwrite`): groups left empty disappear, and figures over the whole
  table (a rank) stay right.
-#}

{#-
  dbt's own is_incremental() wants the existing relation to be a table; on duckdb an Iceberg model
  is shown as a view over its snapshot, so any existing relation counts. A table that lacks one of
  the model's documented columns was built by an earlier version of the model: it is rebuilt whole,
  since the incremental SQL reads those columns from it.
-#}
{% macro is_incremental() %}
  {#- `dbt compile --no-introspect` compiles without a connection, as for a full refresh. -#}
  {%- if not execute or not flags.INTROSPECT -%}
    {{ return(false) }}
  {%- endif -%}
  {%- set relation = adapter.get_relation(this.database, this.schema, this.table) -%}
  {%- if relation is none or model.config.materialized != 'incremental' or should_full_refresh() -%}
    {{ return(false) }}
  {%- endif -%}
  {%- set existing = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
  {%- for column in model.columns -%}
    {%- if column | lower not in existing -%}
      {{ return(false) }}
    {%- endif -%}
  {%- endfor -%}
  {{ return(true) }}
{% endmacro %}


{#- When this invocation started, as the timestamp(6) both targets store in Iceberg. -#}
{% macro invocation_timestamp() -%}
  cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp(6))
{%- endmacro %}


{#-
  The distinct values of `group_expression` over the rows of `relation` whose `watermark` column is
  later than the latest one this model's table holds, plus, where those rows replaced an earlier
  version (`_replaced_merged_at` set), the value the earlier version had (`replaced_expression`).
  Each comes with `changed = true`, so an outer join tells a changed group, null included, from none.

  The latest watermark is read first and written into the SQL as a constant: the engine then skips
  every data file (and Parquet row group) whose statistics show nothing later, which is all but the
  files of the latest merges. Without one (an empty table), every row counts as changed.
-#}
{% macro changed_groups(relation, group_expression, watermark, replaced_expression=none) -%}
  {#- A unit test's `this` is rows given in the test: read within the query, as a subquery. -#}
  {%- if model.resource_type == 'unit_test' -%}
    {%- set condition = 'coalesce(' ~ watermark ~ ' > (select max(' ~ watermark ~ ') from ' ~ this ~ '), true)' -%}
  {%- elif execute -%}
    {%- set latest = run_query('select max(' ~ watermark ~ ') from ' ~ this).columns[0].values()[0] -%}
    {%- set condition = watermark ~ ' > ' ~ timestamp_literal(latest) if latest is not none else 'true' -%}
  {%- else -%}
    {%- set condition = 'true' -%}
  {%- endif -%}
  {%- set since = ' where ' ~ condition -%}
  select distinct group_value, true as changed from (
      select {{ group_expression }} as group_value from {{ relation }}{{ since }}
      {%- if replaced_expression is not none %}
      union all
      select {{ replaced_expression }} from {{ relation }}{{ since }} and _replaced_merged_at is not null
      {%- endif %}
  ) as changed_rows
{%- endmacro %}


{#-
  The CTEs that give an incremental aggregate its input, `name`: on an `incremental` run (the model
  asks is_incremental() once), the rows of `relation` in the groups that changed (`changed_groups`,
  also a CTE, `changed`, for `unchanged_rows`); otherwise every row of `relation`. `live`, when
  given, is the condition a row must meet to count (a removed line's row only marks its group as
  changed).
-#}
{% macro changed_groups_input(incremental, name, relation, group_expression, watermark, replaced_expression=none, live=none) -%}
  {%- set counted = ' where ' ~ live if live is not none else '' -%}
  {%- if incremental -%}
changed as (
    {{ changed_groups(relation, group_expression, watermark, replaced_expression) }}
),

{{ name }} as (
    select input.*
    from {{ relation }} as input
    inner join changed on changed.group_value is not distinct from {{ group_expression }}{{ counted }}
)
  {%- else -%}
{{ name }} as (
    select * from {{ relation }}{{ counted }}
)
  {%- endif -%}
{%- endmacro %}


{#- A timestamp from the database (a Python datetime) as a literal of its type on either target. -#}
{% macro timestamp_literal(value) -%}
  {%- if value.tzinfo is none -%}
    cast('{{ value.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp(6))
  {%- elif target.type == 'trino' -%}
    timestamp '{{ value.astimezone(modules.pytz.utc).strftime("%Y-%m-%d %H:%M:%S.%f") }} UTC'
  {%- else -%}
    cast('{{ value.astimezone(modules.pytz.utc).strftime("%Y-%m-%d %H:%M:%S.%f") }}+00' as timestamptz)
  {%- endif -%}
{%- endmacro %}


{#- dbt-trino's incremental materialization asks for the strategy's SQL by this name. -#}
{% macro get_incremental_overwrite_sql(arg_dict) %}
  create or replace table {{ arg_dict['target_relation'] }} as select * from {{ arg_dict['temp_relation'] }}
{% endmacro %}


{#-
  The rows of this model's table whose `group_column` is not among the `changed` groups, with
  `columns`: what an incremental run keeps as it stands.
-#}
{% macro unchanged_rows(group_column, changed='changed', columns='kept.*') -%}
  select {{ columns }}
  from {{ this }} as kept
  left join {{ changed }} on {{ changed }}.group_value is not distinct from kept.{{ group_column }}
  where {{ changed }}.changed is null
{%- endmacro %}


{#-
  sales_master's `_replaced_*` columns: where the version a merged line replaces stood, read from
  `relation`, the model's own row of that line (none on a full build, where nothing is replaced).
-#}
{% macro replaced_version(incremental, relation='replaced') -%}
  {%- if incremental -%}
        {{ relation }}._merged_at as _replaced_merged_at,
        {{ relation }}.order_date as _replaced_order_date,
        {{ relation }}.customer_country as _replaced_customer_country,
        {{ relation }}.category_name as _replaced_category_name
  {%- else -%}
        cast(null as timestamp(6)) as _replaced_merged_at,
        cast(null as date) as _replaced_order_date,
        cast(null as varchar) as _replaced_customer_country,
        cast(null as varchar) as _replaced_category_name
  {%- endif -%}
{%- endmacro %}
