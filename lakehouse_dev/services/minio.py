"""A MinIO server built from source, on loopback, with a data directory of its own.

No Docker: `go install` builds the pinned MinIO into the services cache once; every later start
reuses that binary. The server is stopped by its process id, and its objects stay in the data
directory across restarts.
"""

import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from lakehouse.buckets import ensure_buckets
from lakehouse.ingest.landing.store import s3_client
from lakehouse_dev.services.go_build import run_go
from lakehouse_dev.services.process import (
    CACHE_DIR,
    ProcessServer,
    ServerProcess,
    ServiceUnavailable,
    accepts_connections,
    free_port,
    install_lock,
)

MINIO_MODULE = "github.com/minio/minio"
# MinIO's RELEASE.* tags are not semver, so the Go module proxy knows releases only by pseudo-version.
MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"
READY_TIMEOUT_S = 60.0
# The key MinIO encrypts objects at rest with (`name:base64 of 32 bytes`): the documented
# development default, as docker-compose's MinIO gets it; change it with MINIO_KMS_SECRET_KEY.
DEVELOPMENT_KMS_SECRET_KEY = "lakehouse-key:vZirFmDkxZuQ7Dk2vzFA7d/s4oTr4jgS/IH+DjCCEDU="


def minio_binary_path(version: str = MINIO_VERSION) -> Path:
    return CACHE_DIR / "minio" / version / "bin" / "minio"


def minio_binary(version: str = MINIO_VERSION) -> Path:
    """The MinIO binary, built on first use; later calls, in any process, reuse it."""
    binary = minio_binary_path(version)
    if binary.exists():
        return binary
    version_dir = binary.parent.parent
    # A lock, not a check alone: two test sessions starting at once would otherwise both spend
    # minutes compiling and race to write the same file.
    with install_lock(version_dir):
        if binary.exists():  # built by whoever held the lock before us
            return binary
        staging = version_dir / "staging"
        shutil.rmtree(staging, ignore_errors=True)
        run_go(["install", f"{MINIO_MODULE}@{version}"], f"building MinIO {version}", GOBIN=str(staging))
        # Into place only when complete, so an interrupted build never passes for a finished one.
        binary.parent.mkdir(parents=True, exist_ok=True)
        (staging / "minio").replace(binary)
        shutil.rmtree(staging, ignore_errors=True)
    return binary


def http_ok(url: str) -> bool:
    # No proxies: a developer's HTTP_PROXY must not intercept a loopback health check.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=1.0) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class MinioServer(ProcessServer):
    """One single-drive MinIO in ``data_dir``: buckets created on start if missing, objects kept across restarts."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    console_port: int = field(default_factory=free_port)
    # The root user: the admin role, which creates the buckets, users and policies.
    access_key: str = "lakehouse"
    secret_key: str = "lakehouse-secret"
    kms_secret_key: str = DEVELOPMENT_KMS_SECRET_KEY
    buckets: tuple[str, ...] = ("warehouse", "landing")
    process: ServerProcess | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "data"

    def client(self) -> Any:
        return s3_client(self.endpoint, self.access_key, self.secret_key)

    def start(self) -> "MinioServer":
        binary = minio_binary()
        # MinIO listens with SO_REUSEPORT, so a second server on a taken port starts without error
        # and the health check would be answered by the first one.
        if accepts_connections(self.port):
            raise ServiceUnavailable(f"port {self.port} on 127.0.0.1 is already in use; MinIO would share it silently")
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        command = [
            str(binary),
            "server",
            str(self.storage_dir),
            "--address",
            f"127.0.0.1:{self.port}",
            # Pinned to loopback: left unset, MinIO picks a random port on every interface.
            "--console-address",
            f"127.0.0.1:{self.console_port}",
            # Otherwise MinIO creates ~/.minio/certs, outside the data directory.
            "--certs-dir",
            str(self.data_dir / "certs"),
        ]
        env = {
            "MINIO_ROOT_USER": self.access_key,
            "MINIO_ROOT_PASSWORD": self.secret_key,
            # The harness needs only the S3 API; the web console would slow startup for nothing.
            "MINIO_BROWSER": "off",
            # No calls home to check for a newer release.
            "MINIO_UPDATE": "off",
            # Prometheus scrapes /minio/v2/metrics/* without a bearer token, as compose's MinIO.
            "MINIO_PROMETHEUS_AUTH_TYPE": "public",
            "MINIO_KMS_SECRET_KEY": self.kms_secret_key,
        }
        self.process = ServerProcess.spawn("MinIO", command, self.log_file, env=env, cwd=self.data_dir)
        # Ready, not live: live answers before the drive is initialised, when bucket calls still fail.
        self.process.wait_ready(lambda: http_ok(f"{self.endpoint}/minio/health/ready"), READY_TIMEOUT_S)
        self._create_buckets()
        return self

    def _create_buckets(self) -> None:
        try:
            ensure_buckets(self.client(), self.buckets)
        except ClientError as error:
            raise ServiceUnavailable(f"creating MinIO buckets {', '.join(self.buckets)} failed: {error}") from error
