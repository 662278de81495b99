"""The reconciliation check rounds silver revenue to cents the way the gold marts' SQL does."""

from decimal import Decimal

import duckdb
import pytest

from lakehouse.defs.quality.checks import to_cents


@pytest.mark.parametrize("amount", ["10.005", "10.015", "10.0049", "0.125", "-10.005", "1357856.6750", "7"])
def test_to_cents_rounds_as_the_marts_sql_round_does(amount: str) -> None:
    # DuckDB is the engine of the `local` marts; Trino's round also goes half away from zero.
    [(expected,)] = duckdb.sql(f"SELECT round(CAST('{amount}' AS DECIMAL(18, 4)), 2)").fetchall()
    assert to_cents(Decimal(amount)) == expected
