"""`lakehouse query` on a gold table as a whole process, against a pyiceberg + DuckDB one-liner.

A classic-size lakehouse is built first by the CLI itself (`generate`, `init`, `materialize --job
medallion`), or `--home` names one built already (it is only read, but for the query cache the
CLI keeps under it). Then, round after round, each of these runs as a process of its own:

- `lakehouse query` on gold, the table's files remembered by an earlier query (a cache hit);
- the same with the cache emptied first (a miss: the table is read through pyiceberg);
- `lakehouse --help`;
- the alternative: a `python -c` one-liner that loads the table with pyiceberg's SqlCatalog,
  reads it into Arrow and queries it with DuckDB.

Each is timed from its start to its exit: interpreter start-up and imports included. A round
runs each once, so the machine's drift touches all alike; each command's ratio to the one-liner
is taken within a round, and its median printed.

    python -m bench.query [--runs 10] [--home PATH]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.rounds import print_rounds

CHECKOUT = Path(__file__).resolve().parents[1]
TABLE = "gold.revenue_by_country"
SQL = f"SELECT * FROM {TABLE} ORDER BY revenue_rank"
BUILD_TIMEOUT_S = 1800
RUN_TIMEOUT_S = 120


def _environment(home: Path) -> dict[str, str]:
    kept = {name: value for name, value in os.environ.items() if not name.startswith("LAKEHOUSE_")}
    # The CLI as `lakehouse` runs it, from this checkout.
    return kept | {"LAKEHOUSE_HOME": str(home), "LAKEHOUSE_PROFILE": "local", "PYTHONPATH": str(CHECKOUT)}


def _cli(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "lakehouse.cli", *arguments]


def _one_liner(home: Path) -> list[str]:
    code = (
        "from pyiceberg.catalog.sql import SqlCatalog; import duckdb; "
        f"rows = SqlCatalog('lakehouse', uri='sqlite:///{home}/catalog.db', warehouse='file://{home}/warehouse')"
        f".load_table('{TABLE}').scan().to_arrow(); "
        f"print(duckdb.sql({SQL.replace(TABLE, 'rows')!r}).fetchall())"
    )
    return [sys.executable, "-c", code]


def _run(command: list[str], environment: dict[str, str], timeout: float = RUN_TIMEOUT_S) -> float:
    """Wall seconds of ``command`` as a process; stops the bench when it fails."""
    started = time.perf_counter()
    completed = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=timeout, check=False)
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{completed.stderr[-4000:]}{completed.stdout[-2000:]}")
    return seconds


def _build(home: Path) -> None:
    for command in (["generate"], ["init"], ["materialize", "--job", "medallion"]):
        seconds = _run(_cli(*command), _environment(home), BUILD_TIMEOUT_S)
        print(f"built: lakehouse {' '.join(command)} ({seconds:.0f} s)")


def _measure(home: Path, runs: int) -> None:
    from lakehouse.iceberg.snapshot_files import CACHE_DIRECTORY

    def miss() -> list[str]:
        shutil.rmtree(home / CACHE_DIRECTORY, ignore_errors=True)
        return _cli("query", SQL)

    commands: dict[str, Callable[[], list[str]]] = {
        "lakehouse query, cache hit": lambda: _cli("query", SQL),
        "lakehouse query, cache miss": miss,
        "lakehouse --help": lambda: _cli("--help"),
        "pyiceberg + DuckDB one-liner": lambda: _one_liner(home),
    }
    environment = _environment(home)
    _run(_cli("query", SQL), environment)  # fills the cache, and warms the file system's
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            seconds[name].append(_run(command(), environment))

    print(f"\n{SQL}: {runs} runs each, whole process, wall seconds")
    print_rounds(seconds, "pyiceberg + DuckDB one-liner")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="rounds; each runs every command once")
    parser.add_argument("--home", type=Path, help="a built lakehouse's LAKEHOUSE_HOME [default: build one]")
    arguments = parser.parse_args()
    if arguments.home:
        _measure(arguments.home.resolve(), arguments.runs)
        return
    built = Path(tempfile.mkdtemp(prefix="lakehouse-bench-query-"))
    try:
        _build(built / "lakehouse")
        _measure(built / "lakehouse", arguments.runs)
    finally:
        shutil.rmtree(built, ignore_errors=True)


if __name__ == "__main__":
    main()
