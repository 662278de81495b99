"""A change capture that kills its own process at one point, as a crash or `kill -9` would.

    python -m tests.stack.capture_killed HOME SOURCE_URL POINT

POINT is where the process dies: `before-commit` (no table committed), `between-commits` (the
first captured table committed, the second not) or `before-advance` (every table committed, the
slot not moved).
"""

import os
import signal
import sys
from pathlib import Path
from typing import Any
from unittest import mock

from lakehouse.iceberg.catalog import catalog_for
from lakehouse.ingest.database import changes
from lakehouse.ingest.database.source import SourceDatabase
from lakehouse.settings import Settings
from tests.stack.test_change_capture import CAPTURED


def die(*_: Any, **__: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main(home: str, source_url: str, point: str) -> None:
    catalog = catalog_for(Settings(home=Path(home), source_url=source_url))
    capture = changes.ChangeCapture(catalog, SourceDatabase(source_url), CAPTURED, chunk_rows=1000)
    commits = iter([changes.commit_load])

    def commit_once(*arguments: Any, **options: Any) -> int:
        return next(commits, die)(*arguments, **options) or 0

    dying = {
        "before-commit": mock.patch.object(changes, "commit_load", die),
        "between-commits": mock.patch.object(changes, "commit_load", commit_once),
        "before-advance": mock.patch.object(changes.ChangeCapture, "_advance", die),
    }[point]
    with dying:
        capture.run()


if __name__ == "__main__":
    main(*sys.argv[1:])
