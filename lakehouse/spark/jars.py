"""The jars a Spark session loads beside Spark's own: Iceberg's Spark runtime, Iceberg's AWS bundle
(S3FileIO, for a warehouse on MinIO) and the JDBC drivers of the catalog's databases.

`make install` resolves them from Maven Central into LAKEHOUSE_SPARK_JARS_DIR, each checked against
the SHA-1 pinned here (`lakehouse_dev/services/spark.py`); a session never downloads anything.
"""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class MavenJar:
    group: str
    artifact: str
    version: str
    sha1: str

    @property
    def file_name(self) -> str:
        return f"{self.artifact}-{self.version}.jar"


# Iceberg 1.12 has no runtime for Spark 4.2 or later: pyspark stays on 4.1 (pyproject.toml).
ICEBERG = "org.apache.iceberg"
SPARK_JARS = (
    MavenJar(ICEBERG, "iceberg-spark-runtime-4.1_2.13", "1.12.0", "9e395e373a9a99643bf413ca1f74fa0c034887b4"),
    MavenJar(ICEBERG, "iceberg-aws-bundle", "1.12.0", "64d5012217035a60924feb633636b744d318eb0a"),
    MavenJar("org.xerial", "sqlite-jdbc", "3.54.1.0", "b74a59de3ae1dbab7c550fe7c46099980261a676"),
    MavenJar("org.postgresql", "postgresql", "42.7.14", "0e7c94ce80cb1dd9875ff44ffe6a40a8aaa3eefd"),
)


class SparkJarsMissing(Exception):
    """The jars are not where the settings say: `make install` puts them there."""


def jar_paths(directory: Path) -> list[Path]:
    """Every jar of `SPARK_JARS` in ``directory``; an error naming the missing ones otherwise."""
    paths = [directory / jar.file_name for jar in SPARK_JARS]
    if missing := [path.name for path in paths if not path.is_file()]:
        raise SparkJarsMissing(
            f"{', '.join(missing)} not in {directory} (LAKEHOUSE_SPARK_JARS_DIR): `make install` resolves them "
            "from Maven Central"
        )
    return paths
