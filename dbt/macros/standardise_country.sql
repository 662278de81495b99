{#- Free-text country names, as sources spell them, to one English name per country. -#}
{% macro standardise_country(column) -%}
  {%- set canonical = [
      'Argentina', 'Austria', 'Belgium', 'Brazil', 'Canada', 'Denmark', 'Finland', 'France', 'Germany',
      'Ireland', 'Italy', 'Mexico', 'Norway', 'Poland', 'Portugal', 'Spain', 'Sweden', 'Switzerland',
      'United Kingdom', 'United States', 'Venezuela'] -%}
  {%- set aliases = {
      'usa': 'United States', 'u.s.a.': 'United States', 'us': 'United States',
      'uk': 'United Kingdom', 'u.k.': 'United Kingdom', 'great britain': 'United Kingdom',
      'deutschland': 'Germany', 'brasil': 'Brazil', 'españa': 'Spain', 'méxico': 'Mexico',
      'italia': 'Italy', 'sverige': 'Sweden', 'suomi': 'Finland', 'österreich': 'Austria'} -%}
  case lower(trim({{ column }}))
  {%- for name in canonical %}
    when '{{ name | lower }}' then '{{ name }}'
  {%- endfor %}
  {%- for alias, name in aliases.items() %}
    when '{{ alias }}' then '{{ name }}'
  {%- endfor %}
    else trim({{ column }})
  end
{%- endmacro %}
