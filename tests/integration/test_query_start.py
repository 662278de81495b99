"""`lakehouse query` and `lakehouse --help` each in a fresh process, as a user runs them: what they
import, and that a query prints the same from the snapshot files' cache as through pyiceberg and Arrow."""

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from lakehouse.cli import ExitCode, OutputFormat, render
from lakehouse.engine import LocalEngine, Records
from lakehouse.security.stack_files import prepare_security
from lakehouse.settings import Settings
from lakehouse_dev.services.process import free_port

CHECKOUT = Path(__file__).resolve().parents[2]
# What only other commands load.
OTHER_COMMANDS = {"dagster", "dagster_dbt", "dbt"}
# What reading a table through pyiceberg loads, and Arrow with numpy.
PYICEBERG_AND_ARROW = {"pyiceberg", "sqlalchemy", "pyarrow", "numpy"}
SQL = "SELECT country, revenue, orders, first_order FROM gold.sales ORDER BY revenue DESC NULLS LAST"


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str
    imported: set[str]  # every module, by its full name


def run_cli(*args: str, **environment: str) -> Run:
    """The CLI in its own process, with the modules it imported, as `-X importtime` lists them."""
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "lakehouse.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(CHECKOUT), **environment},
        timeout=120,
        check=False,
    )
    timing, messages = [], []
    for line in completed.stderr.splitlines():
        (timing if line.startswith("import time:") else messages).append(line)
    imported = {line.rsplit("|", 1)[1].strip() for line in timing[1:]}  # the first line is the header
    return Run(completed.returncode, completed.stdout, "\n".join(messages), imported)


def packages(run: Run) -> set[str]:
    return {module.split(".")[0] for module in run.imported}


@pytest.fixture
def gold_sales(catalog: SqlCatalog) -> SqlCatalog:
    """gold.sales in two commits, with the column types of the gold tables and a row of nulls."""
    schema = pa.schema(
        [
            ("country", pa.string()),
            ("revenue", pa.decimal128(18, 2)),
            ("orders", pa.int64()),
            ("first_order", pa.date32()),
        ]
    )
    table = catalog.create_table(("gold", "sales"), schema=schema)
    table.append(
        pa.table(
            {
                "country": ["Brazil", "Österreich", 'a "quoted", name'],
                "revenue": [Decimal("126438.81"), Decimal("11436.70"), Decimal("0.05")],
                "orders": [59, 7, 1],
                "first_order": [date(1996, 7, 8), date(1996, 8, 1), date(1998, 5, 6)],
            },
            schema=schema,
        )
    )
    table.append(pa.table({"country": [None], "revenue": [None], "orders": [None], "first_order": [None]}, schema))
    return catalog


def printed_before(catalog: SqlCatalog, output: OutputFormat) -> str:
    """What `lakehouse query` printed before the cache: the table read through pyiceberg, rendered from Arrow."""
    engine = LocalEngine(catalog)
    try:
        return render(Records.from_arrow(engine.query(SQL)), output) + "\n"
    finally:
        engine.close()


def test_a_query_on_a_remembered_table_loads_neither_other_commands_code_nor_pyiceberg(
    gold_sales: SqlCatalog,
) -> None:
    first = run_cli("query", SQL)
    assert first.code == ExitCode.SUCCESS, first.stderr
    assert "pyiceberg" in packages(first), "the first query reads the table through pyiceberg, and remembers it"
    assert not OTHER_COMMANDS & packages(first)
    assert first.stdout == printed_before(gold_sales, OutputFormat.TABLE)

    for output in OutputFormat:
        again = run_cli("query", SQL, "--format", output)
        assert again.code == ExitCode.SUCCESS, again.stderr
        assert not (OTHER_COMMANDS | PYICEBERG_AND_ARROW) & packages(again)
        assert again.stdout == printed_before(gold_sales, output)


def test_a_query_after_a_new_snapshot_prints_its_rows(gold_sales: SqlCatalog) -> None:
    assert run_cli("query", "SELECT count(*) AS n FROM gold.sales", "-f", "csv").stdout == "n\n4\n"
    gold_sales.load_table(("gold", "sales")).append(
        pa.table({"country": ["Chile"], "revenue": [Decimal("1.00")], "orders": [1], "first_order": [date(1997, 1, 1)]})
    )
    after = run_cli("query", "SELECT count(*) AS n FROM gold.sales", "-f", "csv")
    assert (after.code, after.stdout) == (ExitCode.SUCCESS, "n\n5\n")


def test_help_loads_no_engine_and_no_settings() -> None:
    run = run_cli("--help")
    assert run.code == ExitCode.SUCCESS
    assert "query" in run.stdout and "Exit codes" in run.stdout
    assert not (OTHER_COMMANDS | PYICEBERG_AND_ARROW | {"duckdb", "trino", "pydantic"}) & packages(run)
    assert "lakehouse.settings" not in run.imported


@pytest.mark.bad_input
def test_a_query_on_stack_loads_neither_duckdb_nor_pyiceberg(settings: Settings) -> None:
    port = free_port()
    authority = prepare_security(settings).ca_file
    run = run_cli(
        "query",
        "SELECT 1",
        LAKEHOUSE_PROFILE="stack",
        LAKEHOUSE_CATALOG_URI=settings.catalog_uri,
        LAKEHOUSE_TRINO_PORT=str(port),
        LAKEHOUSE_TRINO_CA_FILE=str(authority),
    )
    assert run.code == ExitCode.FAILURE
    assert run.stderr.startswith(f"query failed: Trino at https://127.0.0.1:{port} is not reachable")
    assert "trino" in packages(run)
    assert not {"duckdb", "pyiceberg", "dagster", "dbt"} & packages(run)


@pytest.mark.bad_input
def test_a_failed_query_is_reported_without_loading_other_commands_code(gold_sales: SqlCatalog) -> None:
    assert run_cli("query", SQL).code == ExitCode.SUCCESS
    run = run_cli("query", "SELECT revenu FROM gold.sales")
    assert run.code == ExitCode.FAILURE
    assert run.stderr.startswith('query failed: Binder Error: Referenced column "revenu" not found')
    assert not (OTHER_COMMANDS | PYICEBERG_AND_ARROW) & packages(run)
