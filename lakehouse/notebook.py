"""A notebook's door to the lakehouse: SQL on `bronze.x`, `silver.x` and `gold.x`, answered as
pandas by the profile's engine (DuckDB over the catalog's Iceberg tables on `local`, Trino on
`stack`), from the same `LAKEHOUSE_*` settings as everything else. A notebook holds no address
and no credential.

    from lakehouse.notebook import query, snapshots

    query("SELECT * FROM gold.revenue_by_country ORDER BY revenue_rank")
    query("SELECT count(*) AS orders FROM silver.sales_master", as_of="2026-12-01T09:30:00Z")
    snapshots("gold.daily_revenue")
"""

from dataclasses import asdict
from functools import cache
from typing import TYPE_CHECKING

from lakehouse.engine import QueryEngine, engine_for
from lakehouse.settings import Settings, load_settings

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


@cache
def _engine(settings: Settings, as_of: str | None) -> QueryEngine:
    # One per kernel and point in time: DuckDB keeps the tables it attached, Trino its connection.
    return engine_for(settings, as_of)


def arrow(sql: str, as_of: str | None = None) -> "pa.Table":
    """``sql``'s rows as Arrow; with ``as_of`` (a snapshot id or an ISO 8601 time), every table it
    names as it stood then."""
    return _engine(load_settings(), as_of).query(sql)


def query(sql: str, as_of: str | None = None) -> "pd.DataFrame":
    """``sql``'s rows as a pandas DataFrame; ``as_of`` as for `arrow`.

    Decimal columns (money) become floats, which pandas plots and sums natively; `arrow` keeps
    them exact."""
    import pyarrow as pa

    rows = arrow(sql, as_of)
    floats = pa.schema(
        [field.with_type(pa.float64()) if pa.types.is_decimal(field.type) else field for field in rows.schema]
    )
    frame: pd.DataFrame = rows.cast(floats).to_pandas()
    return frame


def snapshots(table: str) -> "pd.DataFrame":
    """Every snapshot of ``table`` (`gold.x`), oldest first: when, what it did, the rows it added
    and removed, and the source position it recorded."""
    import pandas as pd

    from lakehouse.iceberg.catalog import catalog_for
    from lakehouse.iceberg.history import snapshot_history

    loaded = catalog_for(load_settings()).load_table(tuple(table.split(".")))
    return pd.DataFrame([asdict(entry) for entry in snapshot_history(loaded)])
