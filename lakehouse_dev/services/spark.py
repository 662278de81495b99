"""Spark for tests and `make install`: the jars of `lakehouse.spark.jars` from Maven Central, and a
standalone cluster (one master, one worker) started from pyspark's own `spark-class` on loopback.

    python -m lakehouse_dev.services.spark      # the jars, into LAKEHOUSE_SPARK_JARS_DIR
"""

import hashlib
from pathlib import Path

from lakehouse.settings import load_settings
from lakehouse.spark.jars import SPARK_JARS, MavenJar
from lakehouse_dev.services.process import ServiceUnavailable, download, install_lock, maven_url


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


if __name__ == "__main__":
    for installed in install_spark_jars(load_settings().spark_jars_dir):
        print(installed)
