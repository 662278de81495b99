"""The four notebooks executed headless on a classic lakehouse, against four kernels that run nothing.

The lakehouse is built by the CLI (`generate`, `init`, `materialize --job medallion`); then, round
after round, every notebook in notebooks/ runs top to bottom in a fresh kernel (nbclient), as the
tests run them, and so does an empty notebook four times: kernel start-up and shutdown, the floor
any notebook pays.

    python -m bench.notebooks [--runs 3]
"""

import argparse
import shutil
import tempfile
from pathlib import Path

import nbformat

from bench.query import _build
from bench.rounds import print_rounds, timed

ALTERNATIVE = "four empty notebooks"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="rounds; each runs every step once")
    arguments = parser.parse_args()

    from lakehouse_dev.notebooks import execute, notebook_files

    built = Path(tempfile.mkdtemp(prefix="lakehouse-bench-notebooks-"))
    try:
        home = built / "lakehouse"
        _build(home)
        empty = built / "empty.ipynb"
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), empty)  # type: ignore[no-untyped-call]
        environment = {"LAKEHOUSE_HOME": str(home)}
        steps = {
            "the four notebooks": lambda: [execute(path, environment) for path in notebook_files()],
            ALTERNATIVE: lambda: [execute(empty, environment) for _ in notebook_files()],
        }
        seconds: dict[str, list[float]] = {name: [] for name in steps}
        for _ in range(arguments.runs):
            for name, step in steps.items():
                seconds[name].append(timed(step))
        print(f"\nnotebooks/ on the classic lakehouse: {arguments.runs} rounds, wall seconds")
        print_rounds(seconds, ALTERNATIVE)
    finally:
        shutil.rmtree(built, ignore_errors=True)


if __name__ == "__main__":
    main()
