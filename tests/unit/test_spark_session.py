"""The Spark session's configuration from the settings: the project's own catalog, as the other
engines open it, on SQLite with a local warehouse or on PostgreSQL with MinIO."""

from pathlib import Path

import pytest
import sqlalchemy as sa

from lakehouse.defs.spark.resources import spark_resource
from lakehouse.settings import load_settings
from lakehouse.spark.jars import SPARK_JARS, SparkJarsMissing, jar_paths
from lakehouse.spark.session import SparkCatalogError, jdbc_connection

CATALOG = "spark.sql.catalog.lakehouse"


def session_config(tmp_path: Path) -> dict[str, str]:
    jars = tmp_path / "jars"
    jars.mkdir(exist_ok=True)
    for jar in SPARK_JARS:
        (jars / jar.file_name).touch()
    resource = spark_resource(load_settings(spark_jars_dir=jars))
    return resource.spark_config()


def test_local_sessions_use_the_sqlite_catalog_and_the_local_warehouse(tmp_path: Path) -> None:
    settings = load_settings()
    config = session_config(tmp_path)
    assert config["spark.master"] == "local[*]"
    assert config["spark.sql.defaultCatalog"] == "lakehouse"
    assert config[CATALOG] == "org.apache.iceberg.spark.SparkCatalog"
    assert config[f"{CATALOG}.uri"] == f"jdbc:sqlite:{settings.home}/catalog.db"
    assert config[f"{CATALOG}.jdbc.schema-version"] == "V1"
    assert config[f"{CATALOG}.warehouse"] == settings.warehouse
    assert not any(key.startswith(f"{CATALOG}.s3.") for key in config)
    jars = config["spark.driver.extraClassPath"].split(":")
    assert [Path(jar).name for jar in jars] == [jar.file_name for jar in SPARK_JARS]
    assert config["spark.jars"].split(",") == jars


def test_stack_sessions_use_the_postgresql_catalog_and_minio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_PROFILE", "stack")
    monkeypatch.setenv("LAKEHOUSE_SPARK_MASTER", "spark://127.0.0.1:7077")
    settings = load_settings()
    config = session_config(tmp_path)
    assert config["spark.master"] == "spark://127.0.0.1:7077"
    assert config[f"{CATALOG}.uri"] == "jdbc:postgresql://127.0.0.1:5432/iceberg"
    login = sa.make_url(settings.catalog_uri)
    assert (config[f"{CATALOG}.jdbc.user"], config[f"{CATALOG}.jdbc.password"]) == (login.username, login.password)
    assert config[f"{CATALOG}.warehouse"] == "s3://warehouse/"
    assert config[f"{CATALOG}.io-impl"] == "org.apache.iceberg.aws.s3.S3FileIO"
    assert config[f"{CATALOG}.s3.path-style-access"] == "true"
    assert config[f"{CATALOG}.s3.endpoint"] == settings.s3_endpoint
    assert config[f"{CATALOG}.s3.access-key-id"] == settings.s3_access_key
    assert config[f"{CATALOG}.client.region"] == settings.s3_region


def test_jdbc_keeps_the_urls_options() -> None:
    connection = jdbc_connection("postgresql+psycopg://reader:secret@db.example:6543/iceberg?sslmode=require")
    assert connection == {
        "uri": "jdbc:postgresql://db.example:6543/iceberg?sslmode=require",
        "jdbc.user": "reader",
        "jdbc.password": "secret",
    }


@pytest.mark.bad_input
def test_a_catalog_database_spark_cannot_reach_is_named() -> None:
    with pytest.raises(SparkCatalogError, match=r"mysql://.*SQLite or PostgreSQL"):
        jdbc_connection("mysql://someone@db.example/iceberg")


@pytest.mark.bad_input
def test_missing_jars_are_named_with_how_to_get_them(tmp_path: Path) -> None:
    (tmp_path / SPARK_JARS[0].file_name).touch()
    with pytest.raises(SparkJarsMissing) as raised:
        jar_paths(tmp_path)
    message = str(raised.value)
    assert all(jar.file_name in message for jar in SPARK_JARS[1:])
    assert SPARK_JARS[0].file_name not in message
    assert "make install" in message
