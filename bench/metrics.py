"""A scrape of `lakehouse metrics serve`, at each scale, against an exporter without its cache.

For each scale a lakehouse is built by the CLI (`generate --scale`, `init`, `materialize --job
medallion`), recording its run in a Dagster instance of its own. Then, round after round, in this
process:

- a scrape of a running exporter (the text Prometheus receives): the catalog asked for every
  table's metadata location, a metadata file read only where a table changed, the landing
  location listed, the Dagster instance queried;
- the first scrape of a new exporter, which reads every table's metadata file;
- the alternative: the same table figures through pyiceberg's `catalog.load_table` for every
  table, as an exporter without the cache would read them on every scrape.

A round runs each once; the ratio to the alternative is taken within a round, and its median printed.

    python -m bench.metrics [--scale classic,10M] [--runs 20]
"""

import argparse
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.query import BUILD_TIMEOUT_S, _cli, _environment, _run
from bench.rounds import print_rounds, timed

ALTERNATIVE = "load_table for every table"


def _build(home: Path, scale: str) -> None:
    environment = _environment(home) | {"DAGSTER_HOME": str(home / "dagster")}
    for command in (["generate", "--scale", scale], ["init"], ["materialize", "--job", "medallion"]):
        seconds = _run(_cli(*command), environment, BUILD_TIMEOUT_S)
        print(f"built {scale}: lakehouse {' '.join(command)} ({seconds:.0f} s)")


def _measure(home: Path, scale: str, runs: int) -> None:
    from prometheus_client import generate_latest

    from lakehouse.iceberg.catalog import catalog_for, catalog_tables
    from lakehouse.observability.exporter import lakehouse_collector, registry_for
    from lakehouse.observability.sources import table_samples
    from lakehouse.observability.tables import TableState
    from lakehouse.settings import Settings

    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    settings = Settings(home=home)
    running = registry_for(lakehouse_collector(settings))
    text = generate_latest(running)

    def load_every_table() -> None:
        catalog = catalog_for(settings)
        for identifier in catalog_tables(catalog):
            table = catalog.load_table(identifier)
            table_samples(TableState(table, table.metadata_location), frozenset())

    steps: dict[str, Callable[[], object]] = {
        "scrape of a running exporter": lambda: generate_latest(running),
        "first scrape of a new exporter": lambda: generate_latest(registry_for(lakehouse_collector(settings))),
        ALTERNATIVE: load_every_table,
    }
    seconds: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(runs):
        for name, step in steps.items():
            seconds[name].append(timed(step))

    print(f"\n{scale}: {len(text):,} bytes of metrics; {runs} rounds, milliseconds")
    print_rounds(seconds, ALTERNATIVE, milliseconds=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="classic,10M", help="comma-separated scales")
    parser.add_argument("--runs", type=int, default=20, help="rounds; each runs every step once")
    arguments = parser.parse_args()
    for scale in arguments.scale.split(","):
        built = Path(tempfile.mkdtemp(prefix=f"lakehouse-bench-metrics-{scale}-"))
        try:
            _build(built / "lakehouse", scale)
            _measure(built / "lakehouse", scale, arguments.runs)
        finally:
            shutil.rmtree(built, ignore_errors=True)


if __name__ == "__main__":
    main()
