from pathlib import Path

import pytest

from lakehouse.settings import Profile, SettingsError, load_settings


def test_local_defaults_live_under_lakehouse_home(tmp_path: Path) -> None:
    settings = load_settings()
    home = tmp_path / "lakehouse"
    assert settings.profile is Profile.LOCAL
    assert settings.home == home
    assert settings.source_url == f"sqlite:///{home}/northwind.db"
    assert settings.catalog_uri == f"sqlite:///{home}/catalog.db"
    assert settings.warehouse == f"file://{home}/warehouse"
    assert settings.landing == f"file://{home}/landing"


def test_stack_profile_defaults_to_postgres_and_minio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_PROFILE", "stack")
    settings = load_settings()
    assert settings.catalog_uri.startswith("postgresql+psycopg://")
    assert settings.source_url.startswith("postgresql+psycopg://")
    assert settings.warehouse == "s3://warehouse/"
    assert settings.landing == "s3://landing/"
    assert settings.dbt_target == "trino"
    assert settings.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert settings.dagster_storage_url.startswith("postgresql+psycopg2://")


def test_settings_pass_to_child_processes_as_the_same_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_PROFILE", "stack")
    monkeypatch.setenv("LAKEHOUSE_TRINO_PORT", "18080")
    original = load_settings()
    environment = original.environment()
    monkeypatch.delenv("LAKEHOUSE_PROFILE")
    monkeypatch.delenv("LAKEHOUSE_TRINO_PORT")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert load_settings() == original
    assert environment["LAKEHOUSE_TRINO_PORT"] == "18080"
    assert environment["LAKEHOUSE_DBT_TARGET"] == "trino"


def test_explicit_values_win_over_profile_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_SOURCE_URL", "postgresql://someone@db.example/northwind")
    assert load_settings().source_url == "postgresql://someone@db.example/northwind"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("LAKEHOUSE_PROFILE", "production", "'local' or 'stack'"),
        ("LAKEHOUSE_SOURCE_URL", "not a url", "SQLAlchemy URL"),
        ("LAKEHOUSE_CATALOG_URI", "nowhere", "SQLAlchemy URL"),
        ("LAKEHOUSE_WAREHOUSE", "/tmp/warehouse", "file:// or s3://"),
        ("LAKEHOUSE_EXTRACT_CHUNK_ROWS", "-5", "greater than 0"),
        ("LAKEHOUSE_TRINO_PORT", "eighty", "valid integer"),
        ("LAKEHOUSE_DAGSTER_STORAGE_URL", "postgres at home", "SQLAlchemy URL"),
        ("LAKEHOUSE_SPARK_MASTER", "spark-master:7077", "spark://host:7077"),
    ],
)
@pytest.mark.bad_input
def test_wrong_value_names_the_variable_and_what_is_expected(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert variable in message
    assert expected in message
    assert repr(value) in message or value in message


@pytest.mark.bad_input
def test_every_wrong_value_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_PROFILE", "prod")
    monkeypatch.setenv("LAKEHOUSE_WAREHOUSE", "ftp://x")
    with pytest.raises(SettingsError, match=r"LAKEHOUSE_PROFILE.*LAKEHOUSE_WAREHOUSE"):
        load_settings()
