"""The `lakehouse` command line.

Every fault a user can act on ends the command with one red line naming the file, table,
setting or server and what to do, and an exit code (`ExitCode`); `--debug` shows tracebacks.

Each command imports what it needs when it runs, so that `lakehouse --help` starts at once and
`lakehouse query` loads neither Dagster nor dbt, SQLAlchemy nor (mostly) pyiceberg: the module's
own imports are the standard library's and Typer's.
"""

import csv
import errno
import io
import json
import logging
import math
import os
import signal
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from lakehouse.iceberg.formats import FileFormat

if TYPE_CHECKING:
    import dagster as dg
    from pyiceberg.table import Table

    # The Click that this Typer vendors, whose Context the commands' invoke takes.
    from typer._click.core import Context as ClickContext

    from lakehouse.engine import QueryEngine, Records
    from lakehouse.ingest.database.changes import ChangeCapture
    from lakehouse.observability.exporter import LakehouseCollector
    from lakehouse.settings import Settings


class ExitCode(IntEnum):
    SUCCESS = 0
    FAILURE = 1
    USAGE = 2  # a bad setting or option, as for Click's own usage errors
    WARNINGS = 3  # done, with warnings to read: a warning-severity check failed


class Fault(Exception):
    """A fault the user can act on: the command stops with this one line and ``code``."""

    def __init__(self, message: str, code: ExitCode = ExitCode.FAILURE) -> None:
        super().__init__(message)
        self.code = code


DEBUG = "lakehouse.debug"


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _variable(setting: str) -> str:
    """The environment variable of ``setting``."""
    from lakehouse.settings import Settings

    return Settings.variable_for(setting)


def _kafka_remedy() -> str:
    return (
        "start it with `lakehouse services up` (the stack's broker), or set "
        f"{_variable('kafka_bootstrap_servers')} to a running broker"
    )


# How a full disk reads from the OS, and from SQLite through any of its drivers.
DISK_FULL = ("No space left on device", "database or disk is full")


def _disk_full(error: Exception) -> bool:
    return (isinstance(error, OSError) and error.errno == errno.ENOSPC) or any(text in str(error) for text in DISK_FULL)


def _home_variable() -> str:
    """``LAKEHOUSE_HOME (its value)``, or only the name when the settings do not load."""
    from lakehouse.settings import SettingsError, load_settings

    variable = _variable("home")
    try:
        return f"{variable} ({load_settings().home})"
    except SettingsError:
        return variable


def as_fault(error: Exception) -> Fault:
    """The one line and exit code for an error that reached the top of a command."""
    from lakehouse.engine import QueryError
    from lakehouse.settings import SettingsError

    if _disk_full(error):
        where = getattr(error, "filename", None) or _home_variable()
        return Fault(f"no space left on the device holding {where}: free some space there and run again")
    match error:
        case Fault():
            return error
        case SettingsError():
            return Fault(str(error), ExitCode.USAGE)
        case QueryError():
            return Fault(f"query failed: {error}")
    return _other_fault(error)


def _other_fault(error: Exception) -> Fault:
    # Imported here, when a command failed otherwise: a failed query loads neither the extraction
    # (pyiceberg, SQLAlchemy) nor the Kafka client.
    from lakehouse.ingest.database.extract import BackfillError
    from lakehouse.ingest.events.client import KafkaUnavailable
    from lakehouse_dev.services.process import ServiceUnavailable

    match error:
        case BackfillError():
            return Fault(str(error), ExitCode.USAGE)
        case KafkaUnavailable():
            return Fault(f"{error}; {_kafka_remedy()}")
        case ServiceUnavailable():
            return Fault(str(error))
        case OSError(errno=errno.EACCES | errno.EPERM | errno.EROFS):
            return Fault(f"cannot write {error.filename} ({error.strerror}): make it writable and run again")
    return Fault(
        f"unexpected error: {type(error).__name__}: {_first_line(str(error))}; `lakehouse --debug` shows the traceback"
    )


def _json_logs() -> bool:
    """Whether LAKEHOUSE_LOG_FORMAT=json: the one setting each printed line needs, read alone rather
    than loading every setting per line. A bad value prints text; the command reports it."""
    from lakehouse.logs import LogFormat

    return os.environ.get("LAKEHOUSE_LOG_FORMAT") == LogFormat.JSON.value


def say(
    message: str, level: int = logging.INFO, *, color: str | None = None, err: bool = False, **context: str
) -> None:
    """One of the CLI's log lines (progress, a run's report, a fault): as it is, or one JSON object
    with LAKEHOUSE_LOG_FORMAT=json, carrying ``context`` (run_id, asset)."""
    if not _json_logs():
        typer.secho(message, fg=color, err=err)
        return
    from lakehouse.logs import JsonFormatter

    record = logging.makeLogRecord(
        {"name": "lakehouse.cli", "levelno": level, "levelname": logging.getLevelName(level), "msg": message.strip()}
        | context
    )
    typer.echo(JsonFormatter().format(record), err=err)


class _Commands(TyperGroup):
    """The one place that turns an error reaching the top of any command into its `Fault`'s line and code."""

    def invoke(self, ctx: "ClickContext") -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # Click's own usage errors and exits
            raise
        except Exception as error:
            if ctx.meta.get(DEBUG):
                raise
            fault = as_fault(error)
            say(str(fault), logging.ERROR, color=typer.colors.RED, err=True)
            raise typer.Exit(fault.code) from None


app = typer.Typer(
    cls=_Commands,
    help="A Dagster asset-based lakehouse on Apache Iceberg.\n\n"
    "Exit codes: 0 success; 1 failure; 2 a bad setting or option; 3 done with warnings "
    "(a warning-severity check failed).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and Dagster's run log.")] = False,
) -> None:
    ctx.meta[DEBUG] = debug


class OutputFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


@dataclass(frozen=True)
class Database:
    """A database a command opens, and what to do when it is damaged."""

    what: str
    setting: str
    # ``{variable}`` stands for the setting's environment variable.
    remedy: str

    def describe(self, url: str, error: Exception) -> str:
        """The line for ``error`` from opening this database at ``url``."""
        from lakehouse.settings import sqlite_path

        reason = _first_line(str(getattr(error, "orig", None) or error))
        path = sqlite_path(url)
        shown = str(path) if path else _hide_password(url)
        remedy = self.remedy.format(variable=_variable(self.setting))
        if "locked" in reason:
            return (
                f"{self.what} {shown} is locked by another process (a run of `make dev` or another lakehouse "
                "command); run again when it has finished"
            )
        if "not a database" in reason:
            return f"{self.what} {shown} is not a SQLite database: {remedy}"
        problem = "cannot be opened" if path else "is not reachable"
        return f"{self.what} {shown} {problem} ({reason}): {remedy}"


def _hide_password(url: str) -> str:
    import sqlalchemy as sa

    return sa.make_url(url).render_as_string(hide_password=True)


CATALOG = Database(
    "the Iceberg catalog database",
    "catalog_uri",
    "restore it from a backup, or set {variable} to the catalog's database",
)
SOURCE = Database("the source database", "source_url", "start it, or set {variable} to your Northwind database")
TARGET = Database("the target database", "--url", "start it, or pass another --url")
# How long a command waits for another process's lock on a SQLite database before it says so.
LOCK_WAIT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 5


def check_database(database: Database, url: str) -> None:
    """Open the database at ``url`` and take its write lock for a moment: fail with one line when it
    is not a database, is locked or cannot be reached. A SQLite file that does not exist yet is left
    for its creator."""
    from lakehouse.settings import sqlite_path

    path = sqlite_path(url)
    if path is None:
        _check_server(database, url)
    elif path.exists():
        try:
            with closing(sqlite3.connect(path, timeout=LOCK_WAIT_SECONDS, isolation_level=None)) as connection:
                connection.execute("BEGIN IMMEDIATE")
                connection.execute("ROLLBACK")
        except sqlite3.Error as error:
            raise Fault(database.describe(url, error)) from None


def _check_server(database: Database, url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url, connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS})
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.DBAPIError as error:
        raise Fault(database.describe(url, error)) from None
    finally:
        engine.dispose()


def check_kafka(bootstrap_servers: str) -> None:
    """Fail at once, naming the servers, when no bootstrap server accepts a connection, where the Kafka
    client would retry for its whole timeout."""
    import socket

    reasons = []
    for server in bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_SECONDS).close()
            return
        except (OSError, ValueError) as error:
            reasons.append(f"{server.strip()}: {getattr(error, 'strerror', None) or error}")
    raise Fault(f"Kafka is not reachable at {bootstrap_servers} ({'; '.join(reasons)}); {_kafka_remedy()}")


def _settings(*, catalog: bool = False, **overrides: object) -> "Settings":
    """The settings, checked at start-up: a writable home and, with ``catalog``, a catalog database that opens."""
    from lakehouse.settings import check_home, load_settings

    settings = load_settings(**overrides)
    check_home(settings)
    if catalog:
        check_database(CATALOG, settings.catalog_uri)
    return settings


def _render_table(rows: "Records") -> str:
    header = rows.columns
    body = [["" if value is None else str(value) for value in row.values()] for row in rows.rows]
    widths = [max([len(name)] + [len(line[i]) for line in body]) for i, name in enumerate(header)]

    def line(values: list[str]) -> str:
        cells = [v.rjust(w) if right else v.ljust(w) for v, w, right in zip(values, widths, rows.numeric, strict=True)]
        return " | ".join(cells).rstrip()

    rule = "-+-".join("-" * w for w in widths)
    count = f"({len(rows.rows)} row{'s' if len(rows.rows) != 1 else ''})"
    return "\n".join([line(header), rule, *(line(b) for b in body), count])


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities, which JSON cannot spell, as None (null)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def render(rows: "Records", output: OutputFormat) -> str:
    if output is OutputFormat.JSON:
        return json.dumps(_finite(rows.rows), default=_json_default, ensure_ascii=False, indent=2, allow_nan=False)
    if output is OutputFormat.CSV:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(rows.columns)
        writer.writerows(row.values() for row in rows.rows)
        return buffer.getvalue().rstrip("\n")
    return _render_table(rows)


@app.command()
def generate(
    scale: Annotated[str, typer.Option(help="'classic' (830 orders, 2,155 lines) or order lines: 1M, 10M")] = "classic",
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same data.")] = 42,
    url: Annotated[str | None, typer.Option(help="SQLAlchemy URL to write to [default: LAKEHOUSE_SOURCE_URL]")] = None,
    if_missing: Annotated[bool, typer.Option(help="Keep an existing Northwind database untouched.")] = False,
    replace: Annotated[
        bool, typer.Option(help="Replace the Northwind tables already there: bronze no longer matches its source.")
    ] = False,
) -> None:
    """Write a deterministic Northwind OLTP database: the six tables the lakehouse extracts."""
    from lakehouse.security.database_roles import apply_change_capture, as_admin
    from lakehouse.settings import check_database_url, sqlite_path
    from lakehouse_dev.generators.northwind.generator import parse_scale
    from lakehouse_dev.generators.northwind.load import present_northwind_tables, write_northwind
    from lakehouse_dev.generators.northwind.schema import NORTHWIND_TABLES

    settings = _settings()
    target = url or as_admin(settings, settings.source_url)
    try:
        size = parse_scale(scale)
        check_database_url(target)
    except ValueError as error:
        raise Fault(str(error), ExitCode.USAGE) from None
    path = sqlite_path(target)
    if path is not None and not path.parent.is_dir():
        raise Fault(f"the directory {path.parent} does not exist: create it, or pass another --url")
    check_database(TARGET, target)
    present = present_northwind_tables(target)
    if if_missing and present == set(NORTHWIND_TABLES):
        say(f"Northwind already present at {_hide_password(target)}; left as it is")
        return
    if present and not replace:
        raise Fault(
            f"{_hide_password(target)} already holds Northwind tables ({', '.join(sorted(present))}); bronze was "
            "loaded from them and would no longer match its source: pass --replace to overwrite them, or "
            "--if-missing to keep them",
            ExitCode.USAGE,
        )
    summary = write_northwind(target, size, seed)
    rows = ", ".join(f"{name} {count:,}" for name, count in summary.rows.items())
    say(f"Generated Northwind into {summary.url} in {summary.seconds:.1f}s: {rows}")
    # New tables are in no publication: the captured ones join the source's again.
    if url is None and (publication := apply_change_capture(settings)):
        say(f"publication {publication} of the tables captured from the source's change log")


@app.command()
def init() -> None:
    """Create the settings' S3 buckets, the catalog's namespaces and the bronze tables declared in
    `iceberg/`; on `stack`, also Trino's certificate and logins (LAKEHOUSE_HOME/security), and with
    the admin settings MinIO's users and each database's login."""
    from lakehouse.buckets import create_buckets
    from lakehouse.iceberg.catalog import catalog_for, prepare_catalog
    from lakehouse.security.database_roles import apply_change_capture, apply_database_roles
    from lakehouse.security.minio_access import apply_minio_access
    from lakehouse.security.stack_files import prepare_security
    from lakehouse.settings import Profile

    settings = _settings()
    stack = settings.profile is Profile.STACK
    # The catalog's own login first: it is the one that opens the catalog below.
    if stack and (logins := apply_database_roles(settings)):
        say(f"PostgreSQL logins {', '.join(logins)} with their databases' privileges")
    if stack and (publication := apply_change_capture(settings)):
        say(f"publication {publication} of the tables captured from the source's change log")
    check_database(CATALOG, settings.catalog_uri)
    if stack:
        files = prepare_security(settings)
        say(f"Trino's certificate and logins in {files.directory}")
    if not settings.s3_admin_access_key:
        say("MinIO's buckets and users left as they are: no LAKEHOUSE_S3_ADMIN_ACCESS_KEY in this process")
    else:
        if buckets := create_buckets(settings):
            say(f"created bucket(s) {', '.join(buckets)} at {settings.s3_endpoint}")
        if stack:
            users = apply_minio_access(settings)
            say(f"MinIO users {', '.join(users)} with their roles' policies at {settings.s3_endpoint}")
    created = prepare_catalog(catalog_for(settings))
    say(
        f"catalog {settings.catalog_name} at {settings.warehouse}: "
        + (f"created {', '.join(created)}" if created else "up to date")
    )


# dagster-dbt puts dbt's own error messages after this line of a failed step's error.
DBT_ERRORS = "Errors parsed from dbt logs:"


def step_error_line(message: str) -> str:
    """One line of a failed step's error: dbt's own error when dagster-dbt parsed one, else its first line."""
    _, found, dbt_errors = message.partition(DBT_ERRORS)
    lines = [line.strip() for line in dbt_errors.splitlines()] if found else []
    return next((line for line in lines if line and not line.endswith(":")), _first_line(message))


def _check_line(evaluation: "dg.AssetCheckEvaluation") -> str:
    counts = [
        f"{name} {entry.value:,}"
        for name, entry in evaluation.metadata.items()
        if isinstance(entry.value, int | float) and not isinstance(entry.value, bool)
    ]
    details = "; ".join([*([evaluation.description] if evaluation.description else []), ", ".join(counts)])
    return f"{evaluation.asset_key.to_user_string()} {evaluation.check_name}" + (f": {details}" if details else "")


def report_run(job: str, result: "dg.ExecuteInProcessResult") -> None:
    """Print what a run wrote and what its checks found; end with the exit code that sums it up."""
    import dagster as dg

    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        values = {name: entry.value for name, entry in materialization.metadata.items()}
        written = f"+{values['rows_written']:,} written, " if "rows_written" in values else ""
        rows = f"{values['dagster/row_count']:,} rows" if "dagster/row_count" in values else "not loaded"
        pending = values.get("files_still_pending", 0)
        waiting = f", {pending:,} more file(s) pending for the next runs" if pending else ""
        asset = materialization.asset_key.to_user_string()
        say(f"  {asset:<32} {written}{rows}{waiting}", run_id=result.run_id, asset=asset)
    evaluations = result.get_asset_check_evaluations()
    failed = [e for e in evaluations if not e.passed]
    warned = [e for e in failed if e.severity is dg.AssetCheckSeverity.WARN]
    errors = [e for e in failed if e.severity is not dg.AssetCheckSeverity.WARN]
    counts = f"{len(evaluations) - len(failed)} passed, {len(warned)} warned, {len(errors)} failed"
    say(f"  asset checks: {counts}", run_id=result.run_id)
    for checks, outcome, level, color in (
        (warned, "warned", logging.WARNING, typer.colors.YELLOW),
        (errors, "failed", logging.ERROR, typer.colors.RED),
    ):
        for check in checks:
            asset = check.asset_key.to_user_string()
            say(f"  check {outcome}: {_check_line(check)}", level, color=color, run_id=result.run_id, asset=asset)
    run = f"run {result.run_id}"
    if not result.success:
        step_failures = result.get_step_failure_events()
        for step in step_failures:
            error = step.step_failure_data.error
            # Dagster wraps an error raised in the step's code; the user's own error is its cause.
            if error is not None and error.cls_name == "DagsterExecutionStepExecutionError" and error.cause:
                error = error.cause
            say(
                f"  step {step.step_key} failed: {step_error_line(error.message) if error else '?'}",
                logging.ERROR,
                color=typer.colors.RED,
                run_id=result.run_id,
            )
        if not step_failures and (run_failure := result.get_run_failure_event()) is not None:
            say(f"  {run_failure.message}", logging.ERROR, color=typer.colors.RED, run_id=result.run_id)
        raise Fault(
            f"job {job} failed ({run}); its full log: the run's page in the Dagster UI (`make dev`), "
            f"or `lakehouse --debug materialize --job {job}`"
        )
    if errors:
        raise Fault(f"job {job} ran, but {len(errors)} check(s) failed ({run})")
    if warned:
        say(
            f"job {job} succeeded with {len(warned)} warning(s) ({run})",
            logging.WARNING,
            color=typer.colors.YELLOW,
            run_id=result.run_id,
        )
        raise typer.Exit(ExitCode.WARNINGS)
    say(f"job {job} succeeded ({run})", run_id=result.run_id)


def _extracts(job: "dg.JobDefinition") -> bool:
    """Whether ``job`` reads the source database."""
    from lakehouse.defs.bronze import bronze_key
    from lakehouse.iceberg.declarations import bronze_declarations

    extracted = {bronze_key(declaration.table) for declaration in bronze_declarations()}
    return not extracted.isdisjoint(job.asset_layer.selected_asset_keys)


# Signals that end the CLI from outside: `kill`, a closed terminal or SSH session.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@contextmanager
def _stop_as_interrupt() -> Iterator[None]:
    """A stop signal interrupts the run as Ctrl-C does: Dagster marks the run failed, and dbt, on a
    thread of this process, ends with it. Python's default ends the process on the spot and leaves
    the run marked as started.
    (Dagster maps SIGTERM so only while the run executes, and SIGHUP never.)"""
    previous = {
        stop: signal.signal(stop, lambda _signal, _frame: signal.raise_signal(signal.SIGINT)) for stop in STOP_SIGNALS
    }
    try:
        yield
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, handler)


@app.command()
def materialize(
    ctx: typer.Context,
    job: Annotated[str, typer.Option(help="The job to run in this process.")] = "bronze_extract",
    rebuild: Annotated[
        bool,
        typer.Option(
            help="Build every dbt model the job selects from scratch (dbt's --full-refresh), "
            "not only those whose inputs changed."
        ),
    ] = False,
) -> None:
    """Run a job in this process, recorded in the Dagster instance that `make dev` shows.

    Exits 0 when every check passed, 3 when only warning-severity checks failed, 1 otherwise.
    """
    import dagster as dg

    from lakehouse.definitions import defs
    from lakehouse.defs.medallion.plan import REBUILD_TAG
    from lakehouse.instance import prepare_dagster_home
    from lakehouse.logs import LogFormat
    from lakehouse.settings import check_source

    settings = _settings(catalog=True)
    definitions = defs()
    jobs = sorted(name for name in (j.name for j in definitions.resolve_all_job_defs()) if not name.startswith("__"))
    if job not in jobs:
        raise Fault(f"no job {job!r}; the jobs are {', '.join(jobs)}", ExitCode.USAGE)
    job_definition = definitions.resolve_job_def(job)
    if _extracts(job_definition):
        check_source(settings)
        check_database(SOURCE, settings.source_url)
    os.environ["DAGSTER_HOME"] = str(prepare_dagster_home(settings))
    # Dagster's console log carries tracebacks: only --debug shows it, or JSON logs, which are for
    # a log pipeline rather than a terminal (the assets' own lines, as one JSON object each). The
    # instance keeps it all.
    log_level = "DEBUG" if ctx.meta.get(DEBUG) else "INFO" if settings.log_format is LogFormat.JSON else "CRITICAL"
    if not ctx.meta.get(DEBUG):
        # A model left unchanged emits none of its tests' results, and Dagster's plan says so for
        # each one a later step could wait on; the run report counts the checks that ran.
        logging.getLogger("dagster._core.execution.plan.active").setLevel(logging.ERROR)
    with dg.DagsterInstance.get() as instance, _stop_as_interrupt():
        result = job_definition.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
            tags={REBUILD_TAG: "true"} if rebuild else None,
        )
    report_run(job, result)


@app.command()
def backfill(
    table: Annotated[str, typer.Argument(help="The bronze table loaded incrementally from the database, e.g. orders")],
    first: Annotated[int | None, typer.Option("--from", help="The first cursor value [default: the first]")] = None,
    last: Annotated[
        int | None, typer.Option("--to", help="The last cursor value [default: the table's cursor]")
    ] = None,
) -> None:
    """Load the source rows at or below the table's cursor that bronze lacks, exactly once.

    For rows that reached the source after the cursor passed them, or that were quarantined and
    fixed in the source since: the reconcile check names their key ranges.
    """
    from lakehouse.iceberg.catalog import catalog_for
    from lakehouse.iceberg.declarations import bronze_declarations
    from lakehouse.ingest.database.extract import Extraction
    from lakehouse.ingest.database.source import SourceDatabase
    from lakehouse.settings import check_source

    settings = _settings(catalog=True)
    declarations = {declaration.table: declaration for declaration in bronze_declarations()}
    if table not in declarations:
        raise Fault(f"no database table {table!r} in bronze; the tables are {', '.join(declarations)}", ExitCode.USAGE)
    check_source(settings)
    check_database(SOURCE, settings.source_url)
    extraction = Extraction(
        catalog_for(settings), SourceDatabase(settings.source_url), declarations[table], settings.extract_chunk_rows
    )
    result = extraction.backfill(first, last)
    quarantined = f", {result.rows_quarantined:,} quarantined in {result.quarantine}" if result.rows_quarantined else ""
    say(
        f"{result.table}: +{result.rows_written:,} row(s){quarantined}"
        + (
            f" ({result.skipped_reason})"
            if result.skipped_reason
            else "; `lakehouse materialize --job medallion` takes them to gold"
        )
    )


def _engine(settings: "Settings", as_of: str | None = None) -> "QueryEngine":
    from lakehouse.engine import engine_for

    return engine_for(settings, as_of)


KPI_QUERIES = {
    "Sales KPIs": "SELECT total_revenue, orders, customers, average_order_value, first_order_date, last_order_date "
    "FROM gold.sales_kpis",
    "Top 3 countries": "SELECT revenue_rank AS rank, country, revenue, orders FROM gold.revenue_by_country "
    "WHERE revenue_rank <= 3 ORDER BY revenue_rank",
    "Revenue by category": "SELECT category_name, revenue, units, orders FROM gold.revenue_by_category "
    "ORDER BY revenue DESC",
}


@app.command()
def kpis() -> None:
    """Print the headline figures from gold: total revenue, the top 3 countries, revenue by category."""
    from lakehouse.engine import MissingTableError

    engine = _engine(_settings(catalog=True))
    try:
        for title, sql in KPI_QUERIES.items():
            typer.echo(f"\n{title}\n{render(engine.records(sql), OutputFormat.TABLE)}")
    except MissingTableError as error:
        raise Fault(f"gold is not built yet ({error}); run `lakehouse materialize --job medallion`") from None
    finally:
        engine.close()


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="SQL; tables are bronze.x, silver.x, gold.x")],
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.TABLE,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Read each table as it stood at a snapshot id (`lakehouse history TABLE`) or an ISO 8601 time.",
        ),
    ] = None,
) -> None:
    """Run SQL on the configured engine and print the result. A query reads only the tables it names."""
    engine = _engine(_settings(catalog=True), as_of)
    try:
        rows = engine.records(sql)
    finally:
        engine.close()
    typer.echo(render(rows, output))


@app.command()
def tables(
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.TABLE,
) -> None:
    """List every Iceberg table with its row count and current snapshot."""
    import pyarrow as pa

    from lakehouse.engine import Records
    from lakehouse.iceberg.catalog import catalog_for, catalog_tables
    from lakehouse.iceberg.commits import current_row_count

    settings = _settings(catalog=True)
    catalog = catalog_for(settings)
    listing: list[dict[str, Any]] = []
    for identifier in catalog_tables(catalog):
        table = catalog.load_table(identifier)
        snapshot = table.current_snapshot()
        listing.append(
            {
                "table": ".".join(identifier),
                "rows": current_row_count(table),
                "snapshot_id": str(snapshot.snapshot_id) if snapshot else None,
                "committed_at": datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC).isoformat(timespec="seconds")
                if snapshot
                else None,
            }
        )
    schema = pa.schema(
        [("table", pa.string()), ("rows", pa.int64()), ("snapshot_id", pa.string()), ("committed_at", pa.string())]
    )
    typer.echo(render(Records.from_arrow(pa.Table.from_pylist(listing, schema)), output))


# A table cell shows this much of a recorded position value; --format json or csv shows it whole.
POSITION_CELL_CHARS = 100


def _position_text(position: dict[str, str], output: OutputFormat) -> str:
    def shown(value: str) -> str:
        if output is not OutputFormat.TABLE or len(value) <= POSITION_CELL_CHARS:
            return value
        return f"{value[:POSITION_CELL_CHARS]}… ({len(value)} characters)"

    return "; ".join(f"{name}={shown(value)}" for name, value in sorted(position.items()))


def _load_table(table: str) -> "Table":
    """The Iceberg table named ``table`` (schema.name), or a usage fault saying what is wrong."""
    from pyiceberg.exceptions import NoSuchTableError

    from lakehouse.iceberg.catalog import catalog_for

    namespace, _, name = table.partition(".")
    if not namespace or not name or "." in name:
        raise Fault(f"{table!r} is not a table name: give schema.name, for example gold.daily_revenue", ExitCode.USAGE)
    try:
        return catalog_for(_settings(catalog=True)).load_table((namespace, name))
    except NoSuchTableError:
        raise Fault(f"no table {table} in the catalog; `lakehouse tables` lists them", ExitCode.USAGE) from None


@app.command()
def history(
    table: Annotated[str, typer.Argument(help="The table, as schema.name: bronze.orders, gold.daily_revenue")],
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.TABLE,
) -> None:
    """List a table's snapshots, oldest first: when, the operation, rows added and removed, and the
    source position each commit recorded (what the next load resumes from)."""
    import pyarrow as pa

    from lakehouse.engine import Records
    from lakehouse.iceberg.history import snapshot_history

    entries = [
        {
            "snapshot_id": str(entry.snapshot_id),
            "parent_id": str(entry.parent_id) if entry.parent_id is not None else None,
            "committed_at": entry.committed_at.isoformat(timespec="milliseconds"),
            "operation": entry.operation,
            "added_rows": entry.added_rows,
            "removed_rows": entry.removed_rows,
            "total_rows": entry.total_rows,
            "current_lineage": entry.in_current_lineage,
            "position": _position_text(entry.position, output),
        }
        for entry in snapshot_history(_load_table(table))
    ]
    schema = pa.schema(
        [("snapshot_id", pa.string()), ("parent_id", pa.string()), ("committed_at", pa.string()),
         ("operation", pa.string()), ("added_rows", pa.int64()), ("removed_rows", pa.int64()),
         ("total_rows", pa.int64()), ("current_lineage", pa.bool_()), ("position", pa.string())]
    )  # fmt: skip
    typer.echo(render(Records.from_arrow(pa.Table.from_pylist(entries, schema)), output))


@app.command()
def rollback(
    table: Annotated[str, typer.Argument(help="The table, as schema.name: bronze.orders, gold.daily_revenue")],
    snapshot_id: Annotated[int, typer.Argument(help="The snapshot to return to (`lakehouse history TABLE`)")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Roll back without asking.")] = False,
) -> None:
    """Make one of a table's snapshots its current state again. Nothing is deleted: the later
    snapshots stay in `lakehouse history`, and rolling forward is another rollback."""
    loaded = _load_table(table)
    target = loaded.snapshot_by_id(snapshot_id)
    if target is None:
        raise Fault(f"{table} has no snapshot {snapshot_id}; `lakehouse history {table}` lists them", ExitCode.USAGE)
    current = loaded.current_snapshot()
    if current is not None and current.snapshot_id == snapshot_id:
        say(f"{table} is already at snapshot {snapshot_id}")
        return
    committed = datetime.fromtimestamp(target.timestamp_ms / 1000, UTC).isoformat(timespec="seconds")
    question = f"Make snapshot {snapshot_id} of {table}, committed {committed}, its current state?"
    if not yes and not typer.confirm(question):
        raise Fault("rollback cancelled; nothing changed")
    loaded.manage_snapshots().set_current_snapshot(snapshot_id=snapshot_id).commit()
    say(
        f"{table} is at snapshot {snapshot_id}. A bronze table's next load resumes from the position that "
        "snapshot recorded; the next run rebuilds the models that read the table "
        "(`lakehouse materialize --job medallion --rebuild` rebuilds incremental ones from scratch)."
    )


@app.command("deliver-files")
def deliver_files(
    files: Annotated[int, typer.Option(min=1, help="How many files to deliver.")] = 1,
    rows: Annotated[int, typer.Option(min=1, help="Order lines per file.")] = 1000,
    file_format: Annotated[FileFormat, typer.Option("--format", help="The files' format.")] = FileFormat.CSV,
    seed: Annotated[int, typer.Option(min=0, help="The same seed delivers the same paths, which load nothing.")] = 1,
) -> None:
    """Deliver generated marketplace order files to the landing location, as a partner would."""
    from lakehouse_dev.generators.marketplace_files import deliver_sample_files

    settings = _settings()
    try:
        paths = deliver_sample_files(settings, files, rows, file_format, seed)
    except ValueError as error:
        raise Fault(str(error), ExitCode.USAGE) from None
    for path in paths:
        typer.echo(f"{settings.landing.rstrip('/')}/{path}")


@app.command("produce-events")
def produce_events(
    rate: Annotated[
        float | None, typer.Option(min=0.001, help="Messages per second [default: as fast as possible]")
    ] = (None),
    count: Annotated[int, typer.Option(min=0, help="How many sales events to produce.")] = 1000,
    seed: Annotated[int | None, typer.Option(help="The same seed produces the same event ids [default: new ones]")] = (
        None
    ),
    poison: Annotated[int, typer.Option(min=0, help="Bad messages to mix in, to see the quarantine at work.")] = 0,
) -> None:
    """Produce sales events to the Kafka topic `sales-events`, as the shop's checkout would."""
    import time

    from lakehouse.iceberg.declarations import topic_declarations
    from lakehouse_dev.generators.sales_events import produce_events as produce

    settings = _settings()
    if not settings.kafka_bootstrap_servers:
        raise Fault(
            "Kafka is off: set LAKEHOUSE_KAFKA_BOOTSTRAP_SERVERS (LAKEHOUSE_PROFILE=stack uses 127.0.0.1:9092)",
            ExitCode.USAGE,
        )
    check_kafka(settings.kafka_bootstrap_servers)
    topic = topic_declarations()[0].topic
    started = time.perf_counter()
    produced = produce(
        settings.kafka_bootstrap_servers,
        topic.name,
        rate,
        count,
        seed if seed is not None else time.time_ns() % 2**31,
        poison=poison,
        partitions=topic.partitions,
    )
    say(f"produced {produced:,} message(s) to {topic.name} in {time.perf_counter() - started:.1f}s")


@app.command("dagster-home")
def dagster_home() -> None:
    """Write DAGSTER_HOME's `dagster.yaml` for the profile (storage in PostgreSQL on `stack`) and print its path."""
    from lakehouse.instance import prepare_dagster_home

    typer.echo(prepare_dagster_home(_settings()))


metrics = typer.Typer(help="The lakehouse's state as Prometheus metrics: tables, ingestion, Dagster runs.")
app.add_typer(metrics, name="metrics")
DEFAULT_METRICS_PORT = 9420


def _collector() -> "LakehouseCollector":
    """The exporter's collector for the settings, logging in their format."""
    from lakehouse.logs import configure_logging
    from lakehouse.observability.exporter import lakehouse_collector

    settings = _settings()
    configure_logging(settings.log_format)
    return lakehouse_collector(settings)


@metrics.command("serve")
def metrics_serve(
    host: Annotated[str, typer.Option(help="The address to listen on; 0.0.0.0 in a container.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port to serve /metrics on.")] = DEFAULT_METRICS_PORT,
) -> None:
    """Serve /metrics for Prometheus until stopped (Ctrl-C or SIGTERM)."""
    import threading

    from lakehouse.observability.exporter import serve

    collector = _collector()
    stop = threading.Event()
    for stop_signal in (signal.SIGINT, *STOP_SIGNALS):
        signal.signal(stop_signal, lambda _signal, _frame: stop.set())
    try:
        serve(collector, host, port, stop)
    except OSError as error:
        raise Fault(f"cannot listen on {host}:{port} ({error.strerror}); choose another with --port") from None


@metrics.command("show")
def metrics_show() -> None:
    """Print the metrics once, as Prometheus would scrape them."""
    from prometheus_client import generate_latest

    from lakehouse.observability.exporter import registry_for

    typer.echo(generate_latest(registry_for(_collector())).decode(), nl=False)


security = typer.Typer(help="The stack's users and their roles: Trino logins and MinIO users.")
app.add_typer(security, name="security")
MINIMUM_PASSWORD_LENGTH = 12


@security.command("set-user")
def security_set_user(
    user: Annotated[str, typer.Argument(help="The user name, in Trino and in MinIO.")],
    role: Annotated[str, typer.Option(help="admin, engineer, analyst, viewer, monitor or partner.")],
    password_stdin: Annotated[bool, typer.Option(help="Read the password from the first line of stdin.")] = False,
) -> None:
    """Add a user with a role, or change its password or role (a rotation).

    Trino reads its logins again within 5 s; MinIO's user changes at once (on `stack`). The partner
    role is a MinIO user only, the monitor a Trino login only.
    """
    from lakehouse.security.minio_access import MINIO_ROLES, MinioLogin, set_minio_user
    from lakehouse.security.roles import TRINO_ROLES, Role
    from lakehouse.security.stack_files import security_files
    from lakehouse.settings import Profile

    try:
        chosen = Role(role)
    except ValueError:
        raise Fault(f"--role {role}: expected one of {', '.join(Role)}") from None
    password = (
        sys.stdin.readline().rstrip("\n")
        if password_stdin
        else typer.prompt(f"Password for {user}", hide_input=True, confirmation_prompt=True)
    )
    if len(password) < MINIMUM_PASSWORD_LENGTH:
        raise Fault(f"the password of {user} must have at least {MINIMUM_PASSWORD_LENGTH} characters")
    settings = _settings()
    if chosen in TRINO_ROLES:
        security_files(settings).set_user(user, chosen, password)
        say(f"Trino login {user} ({chosen}) set in {security_files(settings).trino_logins.password_file}")
    if settings.profile is Profile.STACK and chosen in (Role.ADMIN, *MINIO_ROLES):
        set_minio_user(settings, MinioLogin(user, password, chosen))
        say(f"MinIO user {user} ({chosen}) set at {settings.s3_endpoint}")


@security.command("users")
def security_users() -> None:
    """List Trino's logins and their roles (MinIO's users are listed by MinIO's own tools)."""
    from lakehouse.security.stack_files import security_files

    for user, role in sorted(security_files(_settings()).trino_logins.users().items()):
        typer.echo(f"{user}\t{role}")


cdc = typer.Typer(help="Change capture from the source's log: its replication slot, and a new snapshot.")
app.add_typer(cdc, name="cdc")


def _capture() -> "ChangeCapture":
    from lakehouse.iceberg.catalog import catalog_for
    from lakehouse.iceberg.declarations import LoadMode, bronze_declarations
    from lakehouse.ingest.database.changes import ChangeCapture
    from lakehouse.ingest.database.source import SourceDatabase

    settings = _settings(catalog=True)
    source = SourceDatabase(settings.source_url)
    captured = [d for d in bronze_declarations() if d.load_mode(source.kind) is LoadMode.CDC]
    if not captured:
        raise Fault(f"no table is captured from {source.display_url}: no declaration in iceberg/ loads cdc from it")
    return ChangeCapture(catalog_for(settings), source, captured, settings.extract_chunk_rows)


@cdc.command("status")
def cdc_status() -> None:
    """The replication slot: where it stands, the log it keeps on the source server, and how to
    drop it."""
    from lakehouse.ingest.database.changes import slot_status
    from lakehouse.ingest.database.pgoutput import format_lsn

    capture = _capture()
    status = slot_status(capture.source)
    if status.slot is None:
        say(f"no replication slot {capture.slot_name} yet: the first load of the captured tables creates it")
        return
    say(
        f"slot {status.slot.name} at {format_lsn(status.slot.confirmed)}, the server at "
        f"{format_lsn(status.server_position)}: {status.pending_bytes:,} bytes of log past the slot, "
        f"{status.retained_bytes:,} bytes kept on the server for it"
    )
    say(
        f"to stop capturing, drop it (the server then recycles that log): SELECT pg_drop_replication_slot("
        f"'{status.slot.name}'); a later load then asks for `lakehouse cdc resnapshot`"
    )


@cdc.command("resnapshot")
def cdc_resnapshot() -> None:
    """Drop the slot and load every captured table again from a new slot's snapshot: after the
    slot was dropped or moved, the source restored, or a table truncated."""
    for result in _capture().resnapshot():
        say(f"{result.table}: {result.rows_written:,} rows from the snapshot at {result.details.position}")


services = typer.Typer(help="The stack's servers (PostgreSQL, MinIO, Kafka, Trino), run without Docker.")
app.add_typer(services, name="services")


def _services_dir(settings: "Settings") -> Path:
    return settings.home / "services"


@services.command("install")
def services_install() -> None:
    """Download and build the servers' software into the cache without starting them: the stack's four
    servers, and the Prometheus the tests run."""
    from lakehouse_dev.services.process import CACHE_DIR
    from lakehouse_dev.services.stack import install_services

    installed = install_services()
    for name, path in installed.items():
        typer.echo(f"  {name:<9} {path}")
    typer.echo(f"installed under {CACHE_DIR}")


@services.command("up")
def services_up() -> None:
    """Install (once, cached) and start the four servers on the ports the settings name."""
    from lakehouse.settings import Profile
    from lakehouse_dev.services.stack import Stack, recorded_processes

    settings = _settings(profile=Profile.STACK)
    running = [process.name for process in recorded_processes(_services_dir(settings)) if process.alive()]
    if running:
        raise Fault(f"already running: {', '.join(running)}; `lakehouse services down` stops them")
    started = datetime.now(UTC)
    Stack(settings, _services_dir(settings)).start(on_started=lambda name: typer.echo(f"  {name} ready"))
    seconds = (datetime.now(UTC) - started).total_seconds()
    typer.echo(f"services up in {seconds:.1f}s; use them with LAKEHOUSE_PROFILE=stack")


@services.command("down")
def services_down() -> None:
    """Stop the servers `lakehouse services up` started, by their process ids. Their data stays."""
    from lakehouse.settings import Profile
    from lakehouse_dev.services.stack import stop_recorded

    stopped = stop_recorded(_services_dir(_settings(profile=Profile.STACK)))
    typer.echo(f"stopped {', '.join(stopped)}" if stopped else "no services running")


@services.command("status")
def services_status() -> None:
    """Each server `lakehouse services up` started: its process id and whether it runs."""
    from lakehouse.settings import Profile
    from lakehouse_dev.services.stack import recorded_processes

    processes = recorded_processes(_services_dir(_settings(profile=Profile.STACK)))
    if not processes:
        typer.echo("no services running")
    for process in processes:
        typer.echo(f"  {process.name:<9} pid {process.pid:<8} {'running' if process.alive() else 'stopped'}")


if __name__ == "__main__":
    app()
