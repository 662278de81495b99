"""The security files `lakehouse init` makes, and the settings that guard them."""

import json
import ssl

import pytest
import yaml

from lakehouse.security.certificates import ensure_server_certificate
from lakehouse.security.roles import DEVELOPMENT_USERS, TRINO_ROLES, Role
from lakehouse.security.stack_files import prepare_security
from lakehouse.security.trino_files import TrinoLogins, password_hash, password_matches
from lakehouse.settings import (
    CHECKOUT_ROOT,
    PASSWORD_SETTINGS,
    Environment,
    Profile,
    Settings,
    SettingsError,
    load_settings,
)

RULES = json.loads((CHECKOUT_ROOT / "trino" / "etc" / "rules.json").read_text())
DBT_MODELS = CHECKOUT_ROOT / "dbt" / "models"


def test_a_password_hash_matches_its_password_only() -> None:
    stored = password_hash("s3cret-Password", iterations=1000)
    iterations, salt, digest = stored.split(":")
    assert int(iterations) == 1000 and len(bytes.fromhex(salt)) == 16 and len(bytes.fromhex(digest)) == 32
    assert password_matches("s3cret-Password", stored)
    assert not password_matches("s3cret-password", stored)
    assert password_hash("s3cret-Password") != password_hash("s3cret-Password"), "each hash has its own salt"


def test_setting_a_user_again_rotates_its_password_and_moves_its_role(tmp_path) -> None:
    logins = TrinoLogins(tmp_path)
    logins.set_user("alice", Role.ANALYST, "first-password")
    logins.set_user("bob", Role.ANALYST, "bobs-password")
    logins.set_user("alice", Role.ENGINEER, "second-password")
    assert logins.users() == {"alice": Role.ENGINEER, "bob": Role.ANALYST}
    assert logins.password_is("alice", "second-password") and not logins.password_is("alice", "first-password")
    assert logins.group_file.read_text() == "analyst:bob\nengineer:alice\n"


@pytest.mark.bad_input
@pytest.mark.parametrize("user", ["", "a:b", "a,b", "a b"])
def test_a_user_name_trino_could_not_read_is_refused(tmp_path, user: str) -> None:
    with pytest.raises(ValueError, match="user name"):
        TrinoLogins(tmp_path).set_user(user, Role.VIEWER, "password")


def test_init_makes_every_role_a_login_and_a_certificate_for_each_host(tmp_path) -> None:
    settings = Settings(home=tmp_path, profile=Profile.STACK, trino_host="trino.example.internal")
    files = prepare_security(settings)
    assert files.trino_logins.users() == {
        user.name: user.role for user in DEVELOPMENT_USERS if user.role in TRINO_ROLES
    }
    assert files.monitor_password_file.read_text() == "monitor-dev-password"
    context = ssl.create_default_context(cafile=str(files.ca_file))
    assert context.get_ca_certs()[0]["subject"] == ((("commonName", "Lakehouse stack CA"),),)
    first = files.trino_server_pem.read_bytes()
    assert b"PRIVATE KEY" in first and first.count(b"BEGIN CERTIFICATE") == 2
    prepare_security(settings)
    assert files.trino_server_pem.read_bytes() == first, "kept while its host names still do"
    ensure_server_certificate(files.trino_server_pem, files.ca_file, files.ca_key_file, {"elsewhere"})
    assert files.trino_server_pem.read_bytes() != first


def test_init_rotates_the_pipelines_password_to_the_settings_one(tmp_path) -> None:
    prepare_security(Settings(home=tmp_path, profile=Profile.STACK))
    files = prepare_security(Settings(home=tmp_path, profile=Profile.STACK, trino_password="a-new-password"))
    assert files.trino_logins.password_is("engineer", "a-new-password")


@pytest.mark.bad_input
def test_production_refuses_every_development_default_secret(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("LAKEHOUSE_ENV", "production")
    monkeypatch.setenv("LAKEHOUSE_TRINO_PASSWORD", "a-real-one")
    monkeypatch.setenv("LAKEHOUSE_S3_ADMIN_SECRET_KEY", "lakehouse-secret")
    with pytest.raises(SettingsError) as refused:
        load_settings(home=tmp_path)
    message = str(refused.value)
    for name in PASSWORD_SETTINGS - {"trino_password"}:
        assert Settings.variable_for(name) in message
    assert "LAKEHOUSE_TRINO_PASSWORD" not in message


def test_production_starts_once_every_secret_is_set(tmp_path) -> None:
    secrets = {name: f"{name}-of-production" for name in PASSWORD_SETTINGS}
    settings = Settings(home=tmp_path, env=Environment.PRODUCTION, **secrets)
    assert settings.development_secrets() == []


def test_production_gives_no_admin_login_unless_the_process_is_given_one(tmp_path) -> None:
    secrets = {name: f"{name}-of-production" for name in PASSWORD_SETTINGS - {"s3_admin_secret_key"}}
    production = Settings(home=tmp_path, env=Environment.PRODUCTION, **secrets)
    assert (production.s3_admin_access_key, production.s3_admin_secret_key, production.postgres_admin_url) == (
        "",
        "",
        "",
    )
    development = Settings(home=tmp_path, profile=Profile.STACK)
    assert development.s3_admin_access_key and development.postgres_admin_url


def test_production_init_makes_only_the_pipelines_login(tmp_path) -> None:
    secrets: dict[str, str] = {name: f"{name}-of-production" for name in PASSWORD_SETTINGS}
    secrets |= {
        name: f"postgresql+psycopg://someone:{name}-of-production@db:5432/{name}"
        for name in ("source_url", "catalog_uri", "postgres_admin_url")
    }
    secrets["dagster_storage_url"] = "postgresql+psycopg2://dagster_owner:also-of-production@db:5432/dagster"
    settings = Settings(home=tmp_path, profile=Profile.STACK, env=Environment.PRODUCTION, **secrets)
    assert prepare_security(settings).trino_logins.users() == {"engineer": Role.ENGINEER}


def personal_columns() -> set[str]:
    """Columns a dbt model declares personal (`meta: {personal_data: true}`)."""
    columns = set()
    for path in DBT_MODELS.rglob("*.yml"):
        for model in yaml.safe_load(path.read_text()).get("models", []):
            for column in model.get("columns", []):
                if column.get("config", {}).get("meta", {}).get("personal_data"):
                    columns.add(column["name"])
    return columns


def test_every_personal_column_is_masked_for_analysts_and_viewers() -> None:
    declared = personal_columns()
    assert {"contact_name", "ship_name"} <= declared
    readers = [rule for rule in RULES["tables"] if rule.get("group") in {"analyst", "viewer"}]
    assert {rule["group"] for rule in readers} == {"analyst", "viewer"}
    for rule in readers:
        masked = {column["name"] for column in rule["columns"] if "mask" in column}
        assert declared <= masked, (rule["group"], declared - masked)


@pytest.mark.bad_input
def test_production_refuses_a_database_url_with_a_development_password(monkeypatch, tmp_path) -> None:
    for name in PASSWORD_SETTINGS:
        monkeypatch.setenv(Settings.variable_for(name), f"{name}-of-production")
    monkeypatch.setenv("LAKEHOUSE_ENV", "production")
    monkeypatch.setenv("LAKEHOUSE_CATALOG_URI", "postgresql+psycopg://iceberg_owner:a-real-one@db:5432/iceberg")
    monkeypatch.setenv(
        "LAKEHOUSE_POSTGRES_ADMIN_URL", "postgresql+psycopg://lakehouse:lakehouse-dev-password@db/postgres"
    )
    with pytest.raises(SettingsError) as refused:
        load_settings(home=tmp_path, profile=Profile.STACK)
    message = str(refused.value)
    for variable in ("LAKEHOUSE_SOURCE_URL", "LAKEHOUSE_DAGSTER_STORAGE_URL", "LAKEHOUSE_POSTGRES_ADMIN_URL"):
        assert variable in message
    assert "LAKEHOUSE_CATALOG_URI" not in message
    assert "dev-password" not in message, "the refusal names the variables, never their values"


def test_set_user_adds_a_login_that_users_lists(monkeypatch, tmp_path) -> None:
    """The monitor role is a Trino login only: no MinIO is needed to add one."""
    from typer.testing import CliRunner

    from lakehouse.cli import app

    monkeypatch.setenv("LAKEHOUSE_HOME", str(tmp_path))
    runner = CliRunner()
    added = runner.invoke(
        app, ["security", "set-user", "grafana", "--role", "monitor", "--password-stdin"], input="a-long-password\n"
    )
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["security", "users"])
    assert "grafana\tmonitor" in listed.output.splitlines()
    assert TrinoLogins(tmp_path / "security" / "trino").password_is("grafana", "a-long-password")
    short = runner.invoke(app, ["security", "set-user", "x", "--role", "viewer", "--password-stdin"], input="short\n")
    assert short.exit_code != 0 and "at least 12 characters" in short.output
    unknown = runner.invoke(app, ["security", "set-user", "x", "--role", "owner", "--password-stdin"], input="x\n")
    assert unknown.exit_code != 0 and "expected one of admin, engineer" in unknown.output
