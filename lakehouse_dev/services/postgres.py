"""A PostgreSQL server from the Debian package, on loopback, with a data directory of its own.

No Docker: the server binaries come from `apt-get install postgresql`; the cluster is created
with initdb on first start and stopped by the postmaster's process id.
"""

import os
import pwd
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from lakehouse.security.roles import POSTGRES_ADMIN
from lakehouse_dev.services.process import ProcessServer, ServerProcess, ServiceUnavailable, free_port, run_checked

POSTGRES_BIN_GLOB = "/usr/lib/postgresql/*/bin"
SERVER_USER = "postgres"  # the Debian package's system user; initdb refuses to run as root
# Passwords over TCP; the harness itself administers the cluster through its socket in the data
# directory, which only the server's user and root can reach. Written at every start, so a
# cluster made before logins were checked checks them too.
HBA_RULES = """\
local all all trust
host all all 127.0.0.1/32 scram-sha-256
"""
READY_TIMEOUT_S = 30.0


def postgres_bin_dir(install: bool = True) -> Path:
    """The newest installed PostgreSQL server's bin directory, installing the package if allowed."""
    found = sorted(Path("/").glob(POSTGRES_BIN_GLOB.lstrip("/")), key=lambda p: int(p.parent.name))
    if found:
        return found[-1]
    if install and os.geteuid() == 0 and shutil.which("apt-get"):
        run_checked(["apt-get", "update", "-qq"], "apt-get update")
        run_checked(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"], "installing PostgreSQL"
        )
        return postgres_bin_dir(install=False)
    raise ServiceUnavailable(
        "PostgreSQL server binaries not found under /usr/lib/postgresql; install them with "
        "`sudo apt-get install postgresql`"
    )


@dataclass
class PostgresServer(ProcessServer):
    """One PostgreSQL cluster in ``data_dir``: created on the first start, kept across restarts."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    databases: tuple[str, ...] = ("northwind",)
    admin_password: str = POSTGRES_ADMIN.development_password
    process: ServerProcess | None = None

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def cluster_dir(self) -> Path:
        return self.data_dir / "cluster"

    def url(self, database: str, driver: str = "postgresql+psycopg") -> str:
        """``database`` as the cluster's superuser (the admin)."""
        return f"{driver}://{POSTGRES_ADMIN.name}:{self.admin_password}@127.0.0.1:{self.port}/{database}"

    def _as_server_user(self, command: list[str]) -> list[str]:
        return ["runuser", "-u", SERVER_USER, "--", *command] if os.geteuid() == 0 else command

    def _client(self, bin_dir: Path, program: str, *arguments: str) -> list[str]:
        socket = ["-h", str(self.data_dir), "-p", str(self.port), "-U", POSTGRES_ADMIN.name]
        return [str(bin_dir / program), *socket, *arguments]

    def start(self) -> "PostgresServer":
        bin_dir = postgres_bin_dir()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            account = pwd.getpwnam(SERVER_USER)
            os.chown(self.data_dir, account.pw_uid, account.pw_gid)
        if not self.cluster_dir.exists():
            initdb = [
                str(bin_dir / "initdb"),
                "-D",
                str(self.cluster_dir),
                "-U",
                POSTGRES_ADMIN.name,
                "--auth=trust",
                "-E",
                "UTF8",
            ]
            run_checked(self._as_server_user(initdb), "initdb")
        hba = self.cluster_dir / "pg_hba.conf"
        hba.write_text(HBA_RULES)
        # wal_level=logical: the source's changes are captured from its log (lakehouse/ingest/database/changes.py).
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data_dir} -c fsync=off -c wal_level=logical"
        pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(self.cluster_dir), "-l", str(self.log_file), "-o", options]
        run_checked(self._as_server_user([*pg_ctl, "-w", "start"]), "starting PostgreSQL", self.log_file)
        postmaster_pid = int((self.cluster_dir / "postmaster.pid").read_text().split()[0])
        # SIGINT is PostgreSQL's "fast" shutdown: clients are disconnected rather than waited for.
        self.process = ServerProcess("PostgreSQL", postmaster_pid, self.log_file, stop_signal=signal.SIGINT)
        is_ready = self._client(bin_dir, "pg_isready")
        self.process.wait_ready(lambda: subprocess.run(is_ready, capture_output=True).returncode == 0, READY_TIMEOUT_S)
        set_password = f"ALTER ROLE {POSTGRES_ADMIN.name} PASSWORD '{self.admin_password}'"
        run_checked(
            self._client(bin_dir, "psql", "-d", "postgres", "-qc", set_password), "setting the admin's password"
        )
        existing = run_checked(
            self._client(bin_dir, "psql", "-d", "postgres", "-Atc", "select datname from pg_database"), "psql"
        ).split()
        for database in self.databases:
            if database not in existing:
                run_checked(self._client(bin_dir, "createdb", database), f"creating database {database}")
        return self
