"""The command line's answers to bad input and faults: one line naming what is wrong and what to do,
no traceback unless --debug, and an exit code that tells failures (1), bad settings or usage (2)
and warnings (3) apart."""

import errno
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from click.testing import Result
from typer.testing import CliRunner

from lakehouse import cli
from lakehouse.cli import ExitCode, app, as_fault, report_run, step_error_line
from lakehouse.engine import MissingTableError
from lakehouse_dev.services.process import free_port

pytestmark = pytest.mark.bad_input

runner = CliRunner()
CHECKOUT = Path(__file__).resolve().parents[2]


def fails(args: list[str], code: ExitCode, message: str) -> Result:
    """Run the CLI in process; it must end with exactly ``message`` as its one line on stderr, and ``code``."""
    result = runner.invoke(app, args)
    assert isinstance(result.exception, SystemExit), result.exception  # no exception escaped the handler
    assert (result.exit_code, result.stderr.strip()) == (code, message)
    return result


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    """A command in its own process, for what only a process shows: its real stderr, its rights, its mounts."""
    environment = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=environment, check=False)


CLI = [sys.executable, "-m", "lakehouse.cli"]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "lakehouse"


def test_help_documents_the_exit_codes() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "Exit codes: 0 success; 1 failure; 2 a bad setting or option; 3 done with" in " ".join(result.stdout.split())


def test_generate_rejects_a_bad_scale() -> None:
    result = runner.invoke(app, ["generate", "--scale", "lots"])
    assert result.exit_code == ExitCode.USAGE
    assert "scale 'lots' is not 'classic'" in result.stderr


def test_a_wrong_setting_stops_the_cli_with_one_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_WAREHOUSE", "ftp://somewhere")
    result = runner.invoke(app, ["tables"])
    assert result.exit_code == ExitCode.USAGE
    assert "LAKEHOUSE_WAREHOUSE: expected a file:// or s3:// location" in result.stderr


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("mysql://someone@db/northwind", "unsupported database 'mysql'; expected sqlite:// or postgresql://"),
        ("postgresql+asyncpg://someone@db/northwind", "the driver of 'postgresql+asyncpg' is not installed"),
    ],
)
def test_an_unsupported_source_database_stops_the_cli_at_start_up(
    monkeypatch: pytest.MonkeyPatch, url: str, problem: str
) -> None:
    monkeypatch.setenv("LAKEHOUSE_SOURCE_URL", url)
    fails(["tables"], ExitCode.USAGE, f"invalid lakehouse settings: LAKEHOUSE_SOURCE_URL: {problem} (got {url!r})")


def test_a_read_only_home_is_named_at_start_up(home: Path) -> None:
    home.mkdir()
    home.chmod(0o555)
    # root writes anywhere whatever the mode; without its capabilities it is refused as any user is.
    as_a_user = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"] if os.geteuid() == 0 else []
    result = run([*as_a_user, *CLI, "tables"])
    assert (result.returncode, result.stderr.strip()) == (
        ExitCode.USAGE,
        f"LAKEHOUSE_HOME: {home} is not writable (Permission denied); point it at a directory you can write to",
    )


def test_a_catalog_database_that_is_not_sqlite_is_named(home: Path) -> None:
    home.mkdir()
    (home / "catalog.db").write_text("a spreadsheet saved over the catalog\n" * 10)
    message = (
        f"the Iceberg catalog database {home / 'catalog.db'} is not a SQLite database: restore it from a backup, "
        "or set LAKEHOUSE_CATALOG_URI to the catalog's database"
    )
    for command in (["tables"], ["query", "SELECT 1"], ["init"]):
        fails(command, ExitCode.FAILURE, message)


@pytest.fixture
def locked_catalog(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The catalog database with another process's exclusive lock held on it."""
    assert runner.invoke(app, ["init"]).exit_code == 0
    monkeypatch.setattr(cli, "LOCK_WAIT_SECONDS", 0.2)
    other = sqlite3.connect(home / "catalog.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    yield home / "catalog.db"
    other.execute("ROLLBACK")
    other.close()


def test_a_locked_catalog_database_is_named(locked_catalog: Path) -> None:
    fails(
        ["tables"],
        ExitCode.FAILURE,
        f"the Iceberg catalog database {locked_catalog} is locked by another process (a run of `make dev` or "
        "another lakehouse command); run again when it has finished",
    )


def test_a_full_disk_is_named(home: Path) -> None:
    """A real full disk: a 64 KiB tmpfs mounted in a user namespace of its own, which needs `unshare`."""
    if shutil.which("unshare") is None or run(["unshare", "--user", "--map-root-user", "--mount", "true"]).returncode:
        pytest.skip("no user namespaces here to mount a tiny tmpfs in")
    home.mkdir()
    mount_then_init = f"mount -t tmpfs -o size=64k tmpfs {home} && exec {' '.join(CLI)} init"
    result = run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", mount_then_init])
    assert (result.returncode, result.stderr.strip()) == (
        ExitCode.FAILURE,
        f"no space left on the device holding LAKEHOUSE_HOME ({home}): free some space there and run again",
    )


def test_a_full_disk_names_the_file_the_os_names() -> None:
    fault = as_fault(OSError(errno.ENOSPC, "No space left on device", "/data/warehouse/x.parquet"))
    assert (
        str(fault)
        == "no space left on the device holding /data/warehouse/x.parquet: free some space there and run again"
    )


def test_an_unknown_job_lists_the_jobs() -> None:
    fails(
        ["materialize", "--job", "nightly"],
        ExitCode.USAGE,
        "no job 'nightly'; the jobs are bronze_extract, maintenance, marketplace_orders_to_gold, medallion, "
        "sales_events_to_gold",
    )


def test_an_extraction_without_its_source_database_is_named(home: Path) -> None:
    fails(
        ["materialize", "--job", "bronze_extract"],
        ExitCode.USAGE,
        f"LAKEHOUSE_SOURCE_URL: the source database {home / 'northwind.db'} does not exist; create it with "
        "`lakehouse generate`, or point the variable at your Northwind database",
    )


def test_generate_refuses_an_unsupported_url() -> None:
    fails(["generate", "--url", "nosuchdb://host/northwind"], ExitCode.USAGE, "unsupported database 'nosuchdb'")


def test_generate_names_an_unreachable_server() -> None:
    port = free_port()
    result = runner.invoke(app, ["generate", "--url", f"postgresql+psycopg://lakehouse@127.0.0.1:{port}/northwind"])
    assert result.exit_code == ExitCode.FAILURE
    line = result.stderr.strip()
    assert line.startswith(f"the target database postgresql+psycopg://lakehouse@127.0.0.1:{port}/northwind is not ")
    assert "Connection refused" in line and line.endswith("start it, or pass another --url")


def test_generate_creates_no_directory(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such"
    fails(
        ["generate", "--url", f"sqlite:///{missing}/northwind.db"],
        ExitCode.FAILURE,
        f"the directory {missing} does not exist: create it, or pass another --url",
    )
    assert not (tmp_path / "no").exists()


def test_generate_keeps_an_existing_source_unless_told_to_replace_it(home: Path) -> None:
    assert runner.invoke(app, ["generate", "--seed", "1"]).exit_code == 0
    source = home / "northwind.db"
    before = hashlib.sha256(source.read_bytes()).hexdigest()
    fails(
        ["generate", "--seed", "2"],
        ExitCode.USAGE,
        f"sqlite:///{source} already holds Northwind tables (categories, customers, employees, order_details, "
        "orders, products); bronze was loaded from them and would no longer match its source: pass --replace to "
        "overwrite them, or --if-missing to keep them",
    )
    assert hashlib.sha256(source.read_bytes()).hexdigest() == before
    assert runner.invoke(app, ["generate", "--seed", "2", "--replace"]).exit_code == 0
    assert hashlib.sha256(source.read_bytes()).hexdigest() != before


def test_produce_events_names_a_kafka_that_is_down_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv("LAKEHOUSE_KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{port}")
    started = time.monotonic()
    fails(
        ["produce-events", "--count", "3"],
        ExitCode.FAILURE,
        f"Kafka is not reachable at 127.0.0.1:{port} (127.0.0.1:{port}: Connection refused); start it with "
        "`lakehouse services up` (the stack's broker), or set LAKEHOUSE_KAFKA_BOOTSTRAP_SERVERS to a running broker",
    )
    assert time.monotonic() - started < 5


def test_kpis_before_gold_is_built_says_how_to_build_it() -> None:
    fails(
        ["kpis"],
        ExitCode.FAILURE,
        "gold is not built yet (no table gold.sales_kpis in the catalog); run `lakehouse materialize --job medallion`",
    )


def test_debug_shows_the_traceback() -> None:
    fails(["query", "SELECT * FROM gold.nope"], ExitCode.FAILURE, "query failed: no table gold.nope in the catalog")
    result = runner.invoke(app, ["--debug", "query", "SELECT * FROM gold.nope"])
    assert isinstance(result.exception, MissingTableError)


def test_an_unexpected_error_is_one_line_that_points_to_debug() -> None:
    fault = as_fault(KeyError("partition"))
    assert (fault.code, str(fault)) == (
        ExitCode.FAILURE,
        "unexpected error: KeyError: 'partition'; `lakehouse --debug` shows the traceback",
    )


def test_json_output_is_strict_json() -> None:
    result = runner.invoke(
        app,
        ["query", "SELECT 'nan'::DOUBLE AS a, '-inf'::DOUBLE AS b, ['inf'::DOUBLE, 1.5] AS c, 2 AS d", "-f", "json"],
    )
    assert result.exit_code == 0

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    assert json.loads(result.stdout, parse_constant=refuse) == [{"a": None, "b": None, "c": [None, 1.5], "d": 2}]


def _checked_asset(severity: dg.AssetCheckSeverity, passed: bool) -> dg.AssetsDefinition:
    @dg.asset(check_specs=[dg.AssetCheckSpec("rows_fit", asset="orders")])
    def orders() -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        yield dg.MaterializeResult(metadata={"dagster/row_count": 10})
        yield dg.AssetCheckResult(
            check_name="rows_fit",
            passed=passed,
            severity=severity,
            description="2 row(s) quarantined" if not passed else None,
            metadata={"rows_quarantined": 0 if passed else 2, "quarantine": "file:///q"},
        )

    return orders


def run_report(*assets: dg.AssetsDefinition) -> tuple[int, str]:
    """report_run over a real in-process Dagster run of ``assets``: its exit code and what it printed."""
    result = dg.materialize(list(assets), instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    outcome = runner.invoke(dg_report_app(result), ["report"])
    return outcome.exit_code, outcome.output


def dg_report_app(result: dg.ExecuteInProcessResult) -> "cli.typer.Typer":
    """A one-command app that reports ``result``, so that it meets the CLI's handler as materialize does."""
    reporting = cli.typer.Typer(cls=cli._Commands)

    @reporting.command()
    def report() -> None:
        report_run("nightly", result)

    @reporting.command()
    def unused() -> None:  # two commands make Typer keep the group, and with it the handler
        pass

    return reporting


def test_a_failed_warning_check_is_a_warning_with_its_counts() -> None:
    code, output = run_report(_checked_asset(dg.AssetCheckSeverity.WARN, passed=False))
    assert code == ExitCode.WARNINGS
    assert "asset checks: 0 passed, 1 warned, 0 failed" in output
    assert "check warned: orders rows_fit: 2 row(s) quarantined; rows_quarantined 2" in output
    assert "job nightly succeeded with 1 warning(s) (run " in output


def test_a_failed_error_check_fails_the_command_with_its_counts() -> None:
    code, output = run_report(_checked_asset(dg.AssetCheckSeverity.ERROR, passed=False))
    assert code == ExitCode.FAILURE
    assert "check failed: orders rows_fit: 2 row(s) quarantined; rows_quarantined 2" in output
    assert "job nightly ran, but 1 check(s) failed (run " in output


def test_passing_checks_succeed() -> None:
    code, output = run_report(_checked_asset(dg.AssetCheckSeverity.ERROR, passed=True))
    assert code == ExitCode.SUCCESS
    assert "asset checks: 1 passed, 0 warned, 0 failed" in output and "job nightly succeeded (run " in output


def test_a_failed_step_prints_its_error_and_where_the_full_log_is() -> None:
    @dg.asset
    def customers() -> None:
        raise RuntimeError("source table 'customers' not found in sqlite:///northwind.db\nmore detail")

    code, output = run_report(customers)
    assert code == ExitCode.FAILURE
    assert (
        "step customers failed: RuntimeError: source table 'customers' not found in sqlite:///northwind.db\n" in output
    )
    assert "Traceback" not in output and "more detail" not in output
    assert output.rstrip().endswith(
        "its full log: the run's page in the Dagster UI (`make dev`), or `lakehouse --debug materialize --job nightly`"
    )


def test_a_dbt_step_error_is_dbts_own_message() -> None:
    message = (
        "dagster_dbt.errors.DagsterDbtCliRuntimeError: The dbt CLI process with command\n\n`dbt build`\n\n"
        "failed.\n\nErrors parsed from dbt logs:\n\nEncountered an error:\n"
        "table gold.x cannot be read: its data file f is missing\n\nTraceback (most recent call last):\n"
    )
    assert step_error_line(message) == "table gold.x cannot be read: its data file f is missing"


def test_files_left_for_later_runs_and_tables_not_loaded_are_reported() -> None:
    @dg.multi_asset(specs=[dg.AssetSpec("landed"), dg.AssetSpec("failed")])
    def loads() -> Iterator[dg.MaterializeResult]:
        yield dg.MaterializeResult(
            asset_key="landed", metadata={"rows_written": 10, "dagster/row_count": 30, "files_still_pending": 120}
        )
        yield dg.MaterializeResult(asset_key="failed", metadata={"load_failed": "source table missing"})

    code, output = run_report(loads)

    assert code == ExitCode.SUCCESS
    assert "landed                           +10 written, 30 rows, 120 more file(s) pending for the next runs" in output
    assert "failed                           not loaded" in output
