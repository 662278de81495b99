{#-
  The order that puts a key's latest version first in a bronze table of a database source. A
  table captured from the source's change log orders its versions by the commit that made them
  and their place in it (`_commit_lsn`, `_change_sequence`); a table extracted incrementally has
  neither, and its latest copy is the one loaded last (`_ingested_at`).
-#}
{% macro latest_version_first() -%}
  _commit_lsn desc nulls last, _change_sequence desc nulls last, _ingested_at desc
{%- endmacro %}
