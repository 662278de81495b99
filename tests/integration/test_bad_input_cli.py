"""The `lakehouse` command line on a built classic lakehouse that something goes wrong with: a data
file lost from the warehouse, and a run killed while dbt builds. Each command runs in its own
process, as a user runs it, so that its real stderr, exit code and child processes show."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from lakehouse.cli import ExitCode

pytestmark = pytest.mark.bad_input

CHECKOUT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "lakehouse.cli"]


class Lakehouse:
    """A LAKEHOUSE_HOME and DAGSTER_HOME, and the CLI run against them."""

    def __init__(self, root: Path) -> None:
        self.home = root / "lakehouse"
        self.dagster_home = root / "dagster"
        self.environment = {
            **{name: value for name, value in os.environ.items() if not name.startswith("LAKEHOUSE_")},
            "PYTHONPATH": str(CHECKOUT),
            "LAKEHOUSE_HOME": str(self.home),
            "DAGSTER_HOME": str(self.dagster_home),
        }

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args], capture_output=True, text=True, env=self.environment, timeout=600, check=False
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.environment
        )


@pytest.fixture(scope="module")
def lakehouse(tmp_path_factory: pytest.TempPathFactory) -> Lakehouse:
    """The classic Northwind through gold, built once by the CLI for this module."""
    built = Lakehouse(tmp_path_factory.mktemp("bad-input-cli"))
    for command in (["generate"], ["init"], ["materialize", "--job", "medallion"]):
        result = built.run(*command)
        assert result.returncode == 0, result.stdout + result.stderr
    return built


@pytest.fixture
def lost_kpis_file(lakehouse: Lakehouse, tmp_path: Path) -> Iterator[Path]:
    """gold.sales_kpis's data file, moved out of the warehouse for the test and back after it."""
    (data_file,) = (lakehouse.home / "warehouse" / "gold" / "sales_kpis" / "data").glob("*.parquet")
    kept = tmp_path / data_file.name
    data_file.rename(kept)
    yield data_file
    kept.rename(data_file)


def assert_one_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_a_lost_data_file_fails_only_the_queries_on_its_table_until_a_rebuild(
    lakehouse: Lakehouse, lost_kpis_file: Path
) -> None:
    damage = (
        f"table gold.sales_kpis cannot be read: its data file {lost_kpis_file} is missing from the warehouse; "
        "rebuild it with `lakehouse materialize --job medallion --rebuild`"
    )
    assert lakehouse.run("query", "SELECT 1 AS one", "-f", "csv").stdout == "one\n1\n"
    assert lakehouse.run("query", "SELECT count(*) AS n FROM bronze.orders", "-f", "csv").stdout == "n\n830\n"
    assert lakehouse.run("query", "SELECT count(*) AS n FROM gold.revenue_by_country", "-f", "csv").returncode == 0

    kpis = lakehouse.run("kpis")
    assert kpis.returncode == ExitCode.FAILURE
    assert assert_one_line(kpis.stderr).startswith(f"query failed: {damage}")

    # The model replaces its table without reading it: a rebuild writes it anew, and the KPIs are back.
    run = lakehouse.run("materialize", "--job", "medallion", "--rebuild")
    assert run.returncode in {ExitCode.SUCCESS, ExitCode.WARNINGS}, run.stdout + run.stderr
    assert "gold/sales_kpis" in run.stdout
    assert lakehouse.run("kpis").returncode == ExitCode.SUCCESS


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP], ids=["kill", "closed-terminal"])
def test_a_stopped_materialize_stops_dbt_and_fails_its_run(lakehouse: Lakehouse, stop: signal.Signals) -> None:
    invocations = lakehouse.home / "dbt" / "target"

    def started() -> set[Path]:
        return set(invocations.iterdir()) if invocations.exists() else set()

    before = started()
    run = lakehouse.start("materialize", "--job", "medallion", "--rebuild")
    deadline = time.monotonic() + 300
    # dbt runs in the CLI's process: each invocation makes its own target directory first.
    while started() == before and run.poll() is None:
        assert time.monotonic() < deadline, "the run never started dbt"
        time.sleep(0.2)
    assert run.poll() is None, "the run ended before dbt started"
    run.send_signal(stop)
    _, stderr = run.communicate(timeout=120)

    assert run.returncode == ExitCode.FAILURE
    assert "Traceback" not in stderr
    with dg.DagsterInstance.from_config(str(lakehouse.dagster_home)) as instance:
        (last,) = instance.get_runs(dg.RunsFilter(job_name="medallion"), limit=1)
    assert last.status in {dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
