"""Each notebook's key result, and the same figure from the `lakehouse` CLI."""

import json
import os
import subprocess
import sys
from pathlib import Path

from lakehouse_dev.notebooks import execute, key_result, notebook_files

LAKEHOUSE_CLI = str(Path(sys.executable).parent / "lakehouse")
# What each notebook's `key-result` cell shows, as the CLI answers it.
CLI_FIGURES = {
    "01_sales_overview.ipynb": ["query", "SELECT total_revenue FROM gold.sales_kpis"],
    "02_customers_rfm.ipynb": ["query", "SELECT count(*) AS customers FROM gold.customer_rfm"],
    "03_live_sales.ipynb": ["query", "SELECT count(*) AS lines FROM gold.sales_unified"],
    "04_time_travel_and_lineage.ipynb": ["history", "gold.daily_revenue"],
}


def cli_figure(arguments: list[str], environment: dict[str, str]) -> float:
    """The one figure the CLI answers: a query's single value, or the number of a history's entries."""
    completed = subprocess.run(
        [LAKEHOUSE_CLI, *arguments, "--format", "json"],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    rows = json.loads(completed.stdout)
    if arguments[0] == "history":
        return float(len(rows))
    [row] = rows
    [value] = row.values()
    return float(value)


def assert_each_notebook_shows_the_cli_figure(environment: dict[str, str]) -> None:
    """Run every notebook with ``environment``'s settings; none raises, and each key result is the CLI's."""
    assert set(CLI_FIGURES) == {path.name for path in notebook_files()}
    for path in notebook_files():
        shown = float(key_result(execute(path, environment)))
        assert shown == cli_figure(CLI_FIGURES[path.name], environment), path.name
