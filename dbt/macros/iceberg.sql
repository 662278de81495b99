{#-
  The duckdb target keeps no tables of its own: a model is built into a staging table, committed
  to the shared Iceberg catalog by the `iceberg` plugin (lakehouse/dbt_iceberg.py), and then read
  back as a view over the new snapshot. Trino, pyiceberg and `lakehouse query` see the same table.
-#}
{% macro lakehouse_build_in_iceberg(mode) %}
  {%- set stage = api.Relation.create(
        database=this.database, schema=this.schema, identifier=this.identifier ~ '__lakehouse_stage', type='table') -%}
  {%- set unique_key = config.get('unique_key') -%}
  {%- if unique_key is string -%}{%- set unique_key = [unique_key] -%}{%- endif -%}

  {{ run_hooks(pre_hooks) }}
  {%- if config.get('contract').enforced -%}
    {{ get_assert_columns_equivalent(sql) }}
  {%- endif -%}
  {% call statement('main') -%}
    create or replace table {{ stage }} as ({{ sql }})
  {%- endcall %}
  {#- The plugin reads the staged rows on a connection of its own, which sees committed data only. -#}
  {% do adapter.commit() %}
  {% do adapter.store_relation('iceberg', stage, [], this.schema ~ '.' ~ this.identifier, 'iceberg',
        {'mode': mode, 'unique_key': unique_key or []}) %}
  {% call statement('drop_stage') -%}
    drop table {{ stage }}
  {%- endcall %}
  {{ run_hooks(post_hooks) }}
  {{ return({'relations': [this.incorporate(type='view')]}) }}
{% endmacro %}


{% materialization iceberg_table, adapter='duckdb' %}
  {{ return(lakehouse_build_in_iceberg('replace')) }}
{% endmaterialization %}


{#- The `overwrite` strategy (macros/incremental.sql) replaces the table with the model's rows. -#}
{% materialization incremental, adapter='duckdb' %}
  {%- set merge = is_incremental() and config.get('incremental_strategy') != 'overwrite' -%}
  {{ return(lakehouse_build_in_iceberg('merge' if merge else 'replace')) }}
{% endmaterialization %}
