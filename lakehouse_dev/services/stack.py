"""The servers of the `stack` profile, started together: PostgreSQL, MinIO, Kafka and Trino.

`lakehouse services up` starts them on the ports the settings name and leaves them running;
`lakehouse services down` stops them by the process ids it recorded. The stack tests start the
same servers on free ports.
"""

import json
import re
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import sqlalchemy as sa

from lakehouse.iceberg.catalog import catalog_for, prepare_catalog
from lakehouse.security.database_roles import apply_change_capture, apply_database_roles
from lakehouse.security.minio_access import apply_minio_access
from lakehouse.security.stack_files import prepare_security, security_files
from lakehouse.settings import CHECKOUT_ROOT, DAGSTER_STORAGE_DRIVER, Profile, Settings, stack_postgres_url
from lakehouse.trino_login import TrinoLogin
from lakehouse_dev.services.kafka import KafkaBroker, kafka_libs
from lakehouse_dev.services.minio import MinioServer, minio_binary
from lakehouse_dev.services.postgres import PostgresServer, postgres_bin_dir
from lakehouse_dev.services.process import ServerProcess, free_port
from lakehouse_dev.services.prometheus import install_prometheus
from lakehouse_dev.services.trino import ETC_DIR as TRINO_ETC_DIR
from lakehouse_dev.services.trino import TrinoServer, install_trino

# The file docker-compose's PostgreSQL runs on its first start: the harness creates the same databases.
CREATE_DATABASES = CHECKOUT_ROOT / "docker" / "postgres" / "create-databases.sql"
DATABASES = tuple(re.findall(r"^CREATE DATABASE (\w+);", CREATE_DATABASES.read_text(), re.MULTILINE))
PIDS_FILE = "pids.json"


class Server(Protocol):
    process: ServerProcess | None

    def start(self) -> object: ...

    def stop(self) -> None: ...


def _port(address: str) -> int:
    port = urlsplit(address if "://" in address else f"//{address}").port
    if port is None:
        raise ValueError(f"{address!r} names no port")
    return port


def trino_environment(settings: Settings) -> dict[str, str]:
    """The variables `trino/catalog/iceberg.properties` and `trino/etc/` read: the lakehouse's own
    catalog, and the security files `lakehouse init` wrote."""
    catalog = sa.make_url(settings.catalog_uri)
    jdbc_url = f"jdbc:postgresql://{catalog.host}:{catalog.port or 5432}/{catalog.database}"
    return {
        **settings.environment(),
        "LAKEHOUSE_TRINO_CATALOG_JDBC_URL": jdbc_url,
        "LAKEHOUSE_TRINO_CATALOG_JDBC_USER": catalog.username or "",
        "LAKEHOUSE_TRINO_CATALOG_JDBC_PASSWORD": catalog.password or "",
        "LAKEHOUSE_TRINO_SECURITY_DIR": str(security_files(settings).trino_dir),
        "LAKEHOUSE_TRINO_ETC_DIR": str(TRINO_ETC_DIR),
    }


def install_services() -> dict[str, Path]:
    """Every server's software, installed into the cache at once; a later call only finds it there."""
    installs: dict[str, Callable[[], Path]] = {
        "postgres": postgres_bin_dir,
        "minio": minio_binary,
        "kafka": kafka_libs,
        "trino": install_trino,
    }
    with ThreadPoolExecutor(max_workers=len(installs)) as pool:
        installing = {name: pool.submit(install) for name, install in installs.items()}
        # Prometheus after PostgreSQL, both Debian packages: PostgreSQL's apt-get fails on apt's
        # locks while another apt-get holds them, rather than waiting.
        wait([installing["postgres"]])
        installing["prometheus"] = pool.submit(install_prometheus)
        return {name: future.result() for name, future in installing.items()}


def stack_settings(home: Path) -> Settings:
    """`stack` settings on free ports, for servers that must not collide with anything running."""
    postgres, minio, kafka, trino = (free_port() for _ in range(4))
    return Settings(
        profile=Profile.STACK,
        home=home,
        source_url=stack_postgres_url("northwind", postgres),
        catalog_uri=stack_postgres_url("iceberg", postgres),
        dagster_storage_url=stack_postgres_url("dagster", postgres, DAGSTER_STORAGE_DRIVER),
        postgres_admin_url=stack_postgres_url("postgres", postgres),
        s3_endpoint=f"http://127.0.0.1:{minio}",
        kafka_bootstrap_servers=f"127.0.0.1:{kafka}",
        trino_port=trino,
    )


@dataclass
class Stack:
    """The four servers for ``settings``, each with a data directory under ``data_dir``."""

    settings: Settings
    data_dir: Path
    postgres: PostgresServer = field(init=False)
    minio: MinioServer = field(init=False)
    kafka: KafkaBroker = field(init=False)
    trino: TrinoServer = field(init=False)

    def __post_init__(self) -> None:
        settings = self.settings
        admin = sa.make_url(settings.postgres_admin_url)
        self.postgres = PostgresServer(
            self.data_dir / "postgres", port=admin.port or 5432, databases=DATABASES, admin_password=str(admin.password)
        )
        self.minio = MinioServer(
            self.data_dir / "minio",
            port=_port(settings.s3_endpoint),
            access_key=settings.s3_admin_access_key,
            secret_key=settings.s3_admin_secret_key,
        )
        self.kafka = KafkaBroker(self.data_dir / "kafka", port=_port(settings.kafka_bootstrap_servers))
        self.trino = TrinoServer(
            self.data_dir / "trino", environment=trino_environment(settings), login=TrinoLogin.of(settings)
        )

    @property
    def servers(self) -> dict[str, Server]:
        return {"postgres": self.postgres, "minio": self.minio, "kafka": self.kafka, "trino": self.trino}

    def start(self, on_started: Callable[[str], None] = lambda name: None) -> "Stack":
        """Start every server, then do what `lakehouse init` does (the namespaces and the declared
        tables), which needs PostgreSQL and MinIO; if one fails, stop the others and raise its error."""
        try:
            self.start_postgres()
            on_started("postgres")
            with ThreadPoolExecutor(max_workers=3) as pool:
                starts = {"trino": self.start_trino, "minio": self.start_minio, "kafka": self.kafka.start}
                started = {name: pool.submit(start) for name, start in starts.items()}
                for name, future in started.items():
                    future.result()
                    on_started(name)
            prepare_catalog(catalog_for(self.settings))
            on_started("catalog")
        except BaseException:
            self.stop()
            raise
        self._record_pids()
        return self

    def start_postgres(self) -> None:
        """Start PostgreSQL, with each database's own login and the capture's publication
        (`lakehouse init`'s)."""
        self.postgres.start()
        apply_database_roles(self.settings)
        apply_change_capture(self.settings)

    def start_minio(self) -> None:
        """Start MinIO, with the buckets, and the users and policies of the roles (`lakehouse init`'s)."""
        self.minio.start()
        apply_minio_access(self.settings)

    def start_trino(self) -> None:
        """Start Trino once PostgreSQL runs: its JDBC catalog expects the catalog tables, which
        pyiceberg creates when it opens the catalog. Its certificate and logins first."""
        prepare_security(self.settings)
        catalog_for(self.settings)
        self.trino.start()

    def stop(self) -> None:
        for server in reversed(self.servers.values()):
            server.stop()
        (self.data_dir / PIDS_FILE).unlink(missing_ok=True)

    def _record_pids(self) -> None:
        processes = {name: server.process for name, server in self.servers.items() if server.process is not None}
        record = {
            name: {"pid": process.pid, "log_file": str(process.log_file), "stop_signal": int(process.stop_signal)}
            for name, process in processes.items()
        }
        (self.data_dir / PIDS_FILE).write_text(json.dumps(record, indent=2))


def recorded_processes(data_dir: Path) -> list[ServerProcess]:
    """The servers an earlier `lakehouse services up` left running in ``data_dir``."""
    pids_file = data_dir / PIDS_FILE
    if not pids_file.exists():
        return []
    return [
        ServerProcess(name, entry["pid"], Path(entry["log_file"]), signal.Signals(entry["stop_signal"]))
        for name, entry in json.loads(pids_file.read_text()).items()
    ]


def stop_recorded(data_dir: Path) -> list[str]:
    """Stop what ``recorded_processes`` lists, Trino first; return the names of those stopped."""
    stopped = []
    for process in reversed(recorded_processes(data_dir)):
        if process.alive():
            process.stop()
            stopped.append(process.name)
    (data_dir / PIDS_FILE).unlink(missing_ok=True)
    return stopped
