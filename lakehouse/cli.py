"""The `lakehouse` command line."""

import csv
import io
import json
import os
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pyarrow as pa
import typer

from lakehouse.iceberg.declarations import FileFormat
from lakehouse.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from lakehouse.engine import QueryEngine

app = typer.Typer(
    help="A Dagster asset-based lakehouse on Apache Iceberg.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class OutputFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as error:
        typer.secho(str(error), err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None


def _fail(message: str) -> typer.Exit:
    typer.secho(message, err=True, fg=typer.colors.RED)
    return typer.Exit(1)


def _render_table(rows: pa.Table) -> str:
    header = rows.column_names
    body = [["" if value is None else str(value) for value in row.values()] for row in rows.to_pylist()]
    widths = [max([len(name)] + [len(line[i]) for line in body]) for i, name in enumerate(header)]
    numeric = [pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t) for t in rows.schema.types]

    def line(values: list[str]) -> str:
        cells = [v.rjust(w) if right else v.ljust(w) for v, w, right in zip(values, widths, numeric, strict=True)]
        return " | ".join(cells).rstrip()

    rule = "-+-".join("-" * w for w in widths)
    count = f"({rows.num_rows} row{'s' if rows.num_rows != 1 else ''})"
    return "\n".join([line(header), rule, *(line(b) for b in body), count])


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def render(rows: pa.Table, output: OutputFormat) -> str:
    if output is OutputFormat.JSON:
        return json.dumps(rows.to_pylist(), default=_json_default, ensure_ascii=False, indent=2)
    if output is OutputFormat.CSV:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(rows.column_names)
        writer.writerows(row.values() for row in rows.to_pylist())
        return buffer.getvalue().rstrip("\n")
    return _render_table(rows)


@app.command()
def generate(
    scale: Annotated[str, typer.Option(help="'classic' (830 orders, 2,155 lines) or order lines: 1M, 10M")] = "classic",
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same data.")] = 42,
    url: Annotated[str | None, typer.Option(help="SQLAlchemy URL to write to [default: LAKEHOUSE_SOURCE_URL]")] = None,
    if_missing: Annotated[bool, typer.Option(help="Keep an existing Northwind database untouched.")] = False,
) -> None:
    """Write a deterministic Northwind OLTP database: the six tables the lakehouse extracts."""
    from lakehouse_dev.generators.northwind.generator import parse_scale
    from lakehouse_dev.generators.northwind.load import northwind_exists, write_northwind

    target = url or _settings().source_url
    try:
        size = parse_scale(scale)
    except ValueError as error:
        raise _fail(str(error)) from None
    if if_missing and northwind_exists(target):
        typer.echo(f"Northwind already present at {target}; left as it is")
        return
    summary = write_northwind(target, size, seed)
    rows = ", ".join(f"{name} {count:,}" for name, count in summary.rows.items())
    typer.echo(f"Generated Northwind into {summary.url} in {summary.seconds:.1f}s: {rows}")


@app.command()
def init() -> None:
    """Create the catalog's bronze, silver and gold namespaces and every bronze table declared in `iceberg/`."""
    from lakehouse.iceberg.catalog import catalog_for, prepare_catalog

    settings = _settings()
    created = prepare_catalog(catalog_for(settings))
    typer.echo(
        f"catalog {settings.catalog_name} at {settings.warehouse}: "
        + (f"created {', '.join(created)}" if created else "up to date")
    )


@app.command()
def materialize(
    job: Annotated[str, typer.Option(help="The job to run in this process.")] = "bronze_extract",
) -> None:
    """Run a job in this process, recorded in the Dagster instance that `make dev` shows."""
    import dagster as dg

    from lakehouse.definitions import defs
    from lakehouse.instance import prepare_dagster_home

    os.environ["DAGSTER_HOME"] = str(prepare_dagster_home(_settings()))
    with dg.DagsterInstance.get() as instance:
        result = (
            defs()
            .resolve_job_def(job)
            .execute_in_process(
                instance=instance,
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
        )
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        values = {name: entry.value for name, entry in materialization.metadata.items()}
        written = f"+{values['rows_written']:,} written, " if "rows_written" in values else ""
        typer.echo(
            f"  {materialization.asset_key.to_user_string():<32} {written}{values.get('dagster/row_count', '?'):,} rows"
        )
    evaluations = result.get_asset_check_evaluations()
    failed_checks = [e for e in evaluations if not e.passed]
    typer.echo(f"  asset checks: {len(evaluations) - len(failed_checks)} passed, {len(failed_checks)} failed")
    for check in failed_checks:
        typer.secho(f"  check failed: {check.asset_key.to_user_string()} {check.check_name}", fg=typer.colors.RED)
    if not result.success or failed_checks:
        raise _fail(f"job {job} did not succeed (run {result.run_id}); see `make dev` for details")
    typer.echo(f"job {job} succeeded (run {result.run_id})")


def _engine(settings: Settings) -> "QueryEngine":
    from lakehouse.engine import engine_for

    return engine_for(settings)


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
    from lakehouse.engine import QueryError

    engine = _engine(_settings())
    try:
        for title, sql in KPI_QUERIES.items():
            typer.echo(f"\n{title}\n{render(engine.query(sql), OutputFormat.TABLE)}")
    except QueryError as error:
        raise _fail(f"gold is not built yet ({error}); run `make demo`") from None
    finally:
        engine.close()


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="SQL; tables are bronze.x, silver.x, gold.x")],
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.TABLE,
) -> None:
    """Run SQL on the configured engine and print the result."""
    from lakehouse.engine import QueryError

    engine = _engine(_settings())
    try:
        rows = engine.query(sql)
    except QueryError as error:
        raise _fail(f"query failed: {error}") from None
    finally:
        engine.close()
    typer.echo(render(rows, output))


@app.command()
def tables(
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.TABLE,
) -> None:
    """List every Iceberg table with its row count and current snapshot."""
    from lakehouse.iceberg.catalog import catalog_for, catalog_tables
    from lakehouse.iceberg.commits import current_row_count

    settings = _settings()
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
    typer.echo(render(pa.Table.from_pylist(listing, schema), output))


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
        raise _fail(str(error)) from None
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
        raise _fail("Kafka is off: set LAKEHOUSE_KAFKA_BOOTSTRAP_SERVERS (LAKEHOUSE_PROFILE=stack uses 127.0.0.1:9092)")
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
    typer.echo(f"produced {produced:,} message(s) to {topic.name} in {time.perf_counter() - started:.1f}s")


@app.command("dagster-home")
def dagster_home() -> None:
    """Write DAGSTER_HOME's `dagster.yaml` for the profile (storage in PostgreSQL on `stack`) and print its path."""
    from lakehouse.instance import prepare_dagster_home

    typer.echo(prepare_dagster_home(_settings()))


services = typer.Typer(help="The stack's servers (PostgreSQL, MinIO, Kafka, Trino), run without Docker.")
app.add_typer(services, name="services")


def _services_dir(settings: Settings) -> Path:
    return settings.home / "services"


@services.command("install")
def services_install() -> None:
    """Download and build the four servers' software into the cache without starting them."""
    from lakehouse_dev.services.process import CACHE_DIR, ServiceUnavailable
    from lakehouse_dev.services.stack import install_services

    try:
        installed = install_services()
    except ServiceUnavailable as error:
        raise _fail(str(error)) from None
    for name, path in installed.items():
        typer.echo(f"  {name:<9} {path}")
    typer.echo(f"installed under {CACHE_DIR}")


@services.command("up")
def services_up() -> None:
    """Install (once, cached) and start the four servers on the ports the settings name."""
    from lakehouse.settings import Profile
    from lakehouse_dev.services.process import ServiceUnavailable
    from lakehouse_dev.services.stack import Stack, recorded_processes

    settings = _settings(profile=Profile.STACK)
    running = [process.name for process in recorded_processes(_services_dir(settings)) if process.alive()]
    if running:
        raise _fail(f"already running: {', '.join(running)}; `lakehouse services down` stops them")
    started = datetime.now(UTC)
    try:
        Stack(settings, _services_dir(settings)).start(on_started=lambda name: typer.echo(f"  {name} ready"))
    except ServiceUnavailable as error:
        raise _fail(str(error)) from None
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
