"""dbt run on a thread of the Dagster step's own process, shaped like the process dagster-dbt reads.

dagster-dbt starts dbt as a new Python process, which imports dbt, its adapter and the Iceberg
plugin again: about three seconds of every run, most of the time a small delivery spends in dbt.
The step has imported them already. Here `dbtRunner` runs the same command in this process, and
`DbtThread` hands its events to dagster-dbt's `DbtCliInvocation` as the JSON lines the process
would have printed, so selection, asset events, checks and errors are dagster-dbt's own.

dbt keeps process-wide state: one invocation at a time (`_INVOCATION`), and dbt-duckdb's database,
with the Iceberg plugin and the settings it was made with, is closed after each one.
"""

import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import IO

from dbt_common.events.base_types import EventLevel, EventMsg
from dbt_common.events.functions import msg_to_json

_INVOCATION = threading.Lock()
# dbt reads its profile's variables, and the plugin its settings, from the environment.
_ENVIRONMENT = threading.Lock()
# What the `dbt` process prints on its standard output by default: debug events go to its log file.
_PRINTED = frozenset({EventLevel.INFO, EventLevel.WARN, EventLevel.ERROR})


@contextmanager
def environment_variables(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` in this process's environment for the duration, one caller at a time."""
    with _ENVIRONMENT:
        before = {name: os.environ.get(name) for name in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for name, value in before.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


class DbtThread:
    """One dbt command on a thread; its events as JSON lines on ``stdout``, like `subprocess.Popen`."""

    def __init__(self, args: Sequence[str], environment: Mapping[str, str]) -> None:
        self.args = ["dbt", *args]
        self.returncode: int | None = None
        self._stopping = False
        read, write = os.pipe()
        self.stdout: IO[bytes] = os.fdopen(read, "rb")
        self._lines = os.fdopen(write, "w", encoding="utf-8")
        # A daemon: a run that is stopped does not wait for dbt to finish its node.
        self._thread = threading.Thread(target=self._invoke, args=(list(args), environment), daemon=True)
        self._thread.start()

    def _emit(self, line: str) -> None:
        # A stopped step closes its end of the pipe and reads no more: what dbt says then is lost
        # with it, and must not end this thread with a traceback on the terminal.
        with suppress(BrokenPipeError):
            self._lines.write(line + "\n")
            self._lines.flush()

    def _print(self, event: EventMsg) -> None:
        if EventLevel(event.info.level) in _PRINTED:
            self._emit(msg_to_json(event))

    def _invoke(self, args: list[str], environment: Mapping[str, str]) -> None:
        # Imported when dbt runs: the code location loads without them, and a run with no model
        # to build does not spend the second they take.
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
        from dbt.cli.main import dbtRunner

        try:
            with _INVOCATION, environment_variables(environment):
                try:
                    result = dbtRunner(callbacks=[self._print]).invoke(args)
                finally:
                    DuckDBConnectionManager.close_all_connections()  # type: ignore[no-untyped-call]
            self.returncode = 0 if result.success else 1
        except BaseException as error:  # reported by dagster-dbt as the command's failure
            self._emit(f"dbt failed in this process: {type(error).__name__}: {error}")
            self.returncode = 2
        finally:
            with suppress(BrokenPipeError):
                self._lines.close()

    def wait(self, timeout: float | None = None) -> int | None:
        if not self._stopping:
            self._thread.join(timeout)
        return self.returncode

    def send_signal(self, signal: int) -> None:
        """A thread cannot be interrupted: the step stops waiting for dbt, which ends with the process.

        Each model's commit is atomic, so what dbt was writing is either in its table or not; the
        data files of a commit that did not happen are left for orphan-file removal."""
        self._stopping = True
