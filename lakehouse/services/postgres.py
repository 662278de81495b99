"""A PostgreSQL server from the Debian package, on loopback, with a data directory of its own.

No Docker: the server binaries come from `apt-get install postgresql`; the cluster is created
with initdb in a fresh directory and stopped by the postmaster's process id.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

POSTGRES_BIN_GLOB = "/usr/lib/postgresql/*/bin"
SERVER_USER = "postgres"  # the Debian package's system user; initdb refuses to run as root
ROLE = "lakehouse"
READY_TIMEOUT_S = 30.0


class ServiceUnavailable(Exception):
    """A service cannot be installed or started here; the message says what is missing."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(command: Sequence[str], what: str, log: Path | None = None) -> None:
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        server_log = log.read_text()[-4000:] if log and log.exists() else ""
        raise ServiceUnavailable(
            f"{what} failed ({' '.join(command)}):\n{completed.stdout}{completed.stderr}{server_log}"
        )


def postgres_bin_dir(install: bool = True) -> Path:
    """The newest installed PostgreSQL server's bin directory, installing the package if allowed."""
    found = sorted(Path("/").glob(POSTGRES_BIN_GLOB.lstrip("/")), key=lambda p: int(p.parent.name))
    if found:
        return found[-1]
    if install and os.geteuid() == 0 and shutil.which("apt-get"):
        _run(["apt-get", "update", "-qq"], "apt-get update")
        _run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"], "installing PostgreSQL")
        return postgres_bin_dir(install=False)
    raise ServiceUnavailable(
        "PostgreSQL server binaries not found under /usr/lib/postgresql; install them with "
        "`sudo apt-get install postgresql`"
    )


@dataclass
class PostgresServer:
    """One PostgreSQL cluster; ``start()`` creates it, ``stop()`` stops it and removes its data."""

    port: int = field(default_factory=free_port)
    databases: tuple[str, ...] = ("northwind",)
    data_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="lakehouse-postgres-")))
    pid: int | None = None

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def cluster_dir(self) -> Path:
        return self.data_dir / "cluster"

    def url(self, database: str, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{ROLE}@127.0.0.1:{self.port}/{database}"

    def _as_server_user(self, command: list[str]) -> list[str]:
        return ["runuser", "-u", SERVER_USER, "--", *command] if os.geteuid() == 0 else command

    def start(self) -> "PostgresServer":
        bin_dir = postgres_bin_dir()
        if os.geteuid() == 0:
            account = pwd.getpwnam(SERVER_USER)
            os.chown(self.data_dir, account.pw_uid, account.pw_gid)
        _run(
            self._as_server_user(
                [str(bin_dir / "initdb"), "-D", str(self.cluster_dir), "-U", ROLE, "--auth=trust", "-E", "UTF8"]
            ),
            "initdb",
        )
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data_dir} -c fsync=off"
        _run(
            self._as_server_user(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(self.cluster_dir),
                    "-l",
                    str(self.log_file),
                    "-o",
                    options,
                    "-w",
                    "start",
                ]
            ),
            "starting PostgreSQL",
            self.log_file,
        )
        self.pid = int((self.cluster_dir / "postmaster.pid").read_text().split()[0])
        self._wait_ready(bin_dir)
        for database in self.databases:
            _run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", ROLE, database], "createdb")
        return self

    def _wait_ready(self, bin_dir: Path) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)], capture_output=True, check=False
            )
            if ready.returncode == 0:
                return
            time.sleep(0.2)
        raise ServiceUnavailable(f"PostgreSQL not ready after {READY_TIMEOUT_S}s:\n{self.log_file.read_text()[-4000:]}")

    def stop(self) -> None:
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGINT)  # "fast" shutdown
                deadline = time.monotonic() + READY_TIMEOUT_S
                while time.monotonic() < deadline and Path(f"/proc/{self.pid}").exists():
                    time.sleep(0.1)
            except ProcessLookupError:
                pass
            self.pid = None
        shutil.rmtree(self.data_dir, ignore_errors=True)
