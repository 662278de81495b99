"""Spark for tests and `make install`: the jars of `lakehouse.spark.jars` from Maven Central, and a
standalone cluster (one master, one worker) started from pyspark's own `spark-class` on loopback.

    python -m lakehouse_dev.services.spark      # the jars, into LAKEHOUSE_SPARK_JARS_DIR
"""

import hashlib
import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lakehouse.settings import load_settings
from lakehouse.spark.jars import SPARK_JARS, MavenJar
from lakehouse_dev.services.process import (
    ServerProcess,
    ServiceUnavailable,
    accepts_connections,
    download,
    free_port,
    install_lock,
    maven_url,
)

READY_TIMEOUT_S = 120.0


def _sha1(path: Path) -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    with path.open("rb") as jar:
        while block := jar.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def install_jar(jar: MavenJar, directory: Path) -> Path:
    """``jar`` in ``directory``, downloaded once and checked against its pinned SHA-1."""
    path = directory / jar.file_name
    if path.is_file():
        return path
    staged = download(maven_url(jar.group, jar.artifact, jar.version), directory / "downloads" / jar.file_name)
    if (found := _sha1(staged)) != jar.sha1:
        staged.unlink()
        raise ServiceUnavailable(f"{jar.file_name} from Maven Central has SHA-1 {found}, not the pinned {jar.sha1}")
    staged.replace(path)
    return path


def install_spark_jars(directory: Path) -> list[Path]:
    with install_lock(directory):
        return [install_jar(jar, directory) for jar in SPARK_JARS]


def _spark_class() -> Path:
    """pyspark's own launcher of Spark's JVM classes, which its `spark-submit` uses too."""
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-class"


def _master_state(web_port: int) -> dict[str, Any]:
    """What the master's web UI reports of the cluster: its workers and applications."""
    with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/json/", timeout=5) as response:
        state: dict[str, Any] = json.load(response)
    return state


def _alive_workers(web_port: int) -> int:
    try:
        return int(_master_state(web_port).get("aliveworkers", 0))
    except OSError:
        return 0


@dataclass
class SparkCluster:
    """A standalone Spark cluster on loopback: one master and one worker, each a process of its own."""

    master: ServerProcess
    worker: ServerProcess
    url: str
    """The master's URL, for LAKEHOUSE_SPARK_MASTER."""
    web_port: int

    def completed_applications(self) -> int:
        """The applications (sessions) that ran on the cluster and ended."""
        return len(_master_state(self.web_port)["completedapps"])

    def stop(self) -> None:
        self.worker.stop()
        self.master.stop()


def start_spark_cluster(data_dir: Path, cores: int = 2, memory: str = "2g") -> SparkCluster:
    """A master, then a worker offering ``cores`` and ``memory``, ready once the master counts it."""
    port, web_port = free_port(), free_port()
    environment = {"SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(data_dir / "logs")}
    master = ServerProcess.spawn(
        "spark master",
        [str(_spark_class()), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
         "--port", str(port), "--webui-port", str(web_port)],
        data_dir / "master.log",
        env=environment,
    )  # fmt: skip
    url = f"spark://127.0.0.1:{port}"
    try:
        master.wait_ready(lambda: accepts_connections(port) and accepts_connections(web_port), READY_TIMEOUT_S)
        worker = ServerProcess.spawn(
            "spark worker",
            [str(_spark_class()), "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
             "--webui-port", str(free_port()), "--cores", str(cores), "--memory", memory,
             "--work-dir", str(data_dir / "work"), url],
            data_dir / "worker.log",
            env=environment,
        )  # fmt: skip
    except BaseException:
        master.stop()
        raise
    cluster = SparkCluster(master, worker, url, web_port)
    try:
        worker.wait_ready(lambda: _alive_workers(web_port) >= 1, READY_TIMEOUT_S)
    except BaseException:
        cluster.stop()
        raise
    return cluster


if __name__ == "__main__":
    for installed in install_spark_jars(load_settings().spark_jars_dir):
        print(installed)
