"""Who may do what, tried against the real servers: every role against every action.

Each allowed cell must succeed and each denied cell must fail with an access-denied error,
not with any error. The tables are the classic medallion, built on the stack by the pipeline's
own login; the tables created and dropped are this module's own (`gold.security_*`).
"""

import base64
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
import requests
import sqlalchemy as sa
import trino
from botocore.exceptions import ClientError

from lakehouse.iceberg.catalog import catalog_for
from lakehouse.ingest.landing.store import s3_client
from lakehouse.security.minio_access import partner_prefixes
from lakehouse.security.roles import Role, development_user
from lakehouse.settings import DATABASE_URL_SETTINGS, SECRET_SETTINGS, Settings
from lakehouse.trino_login import TrinoLogin
from lakehouse_dev.services.stack import Stack
from lakehouse_dev.services.trino import TrinoServer
from tests.stack.conftest import StackMedallion

MASK = "***"


class Action(StrEnum):
    READ_GOLD = "read gold"
    READ_SILVER = "read silver"
    READ_BRONZE = "read bronze"
    READ_PERSONAL_DATA = "read a personal-data column"
    CREATE_TABLE = "create a table"
    DROP_TABLE = "drop a table"


class Outcome(StrEnum):
    ALLOWED = "allowed"
    # Read, with the personal data replaced by the mask.
    MASKED = "masked"
    DENIED = "denied"


ALL_ALLOWED = dict.fromkeys(Action, Outcome.ALLOWED)
EXPECTED: dict[Role, dict[Action, Outcome]] = {
    Role.ADMIN: ALL_ALLOWED,
    Role.ENGINEER: ALL_ALLOWED,
    Role.ANALYST: {
        **dict.fromkeys(Action, Outcome.DENIED),
        Action.READ_GOLD: Outcome.ALLOWED,
        Action.READ_SILVER: Outcome.ALLOWED,
        Action.READ_PERSONAL_DATA: Outcome.MASKED,
    },
    Role.VIEWER: {**dict.fromkeys(Action, Outcome.DENIED), Action.READ_GOLD: Outcome.ALLOWED},
}


def login_as(trino_server: TrinoServer, role: Role, password: str | None = None) -> TrinoLogin:
    user = development_user(role)
    engineer = trino_server.login
    return TrinoLogin(engineer.host, engineer.port, user.name, password or user.development_password, engineer.ca_file)


@pytest.fixture(scope="module")
def tables(stack_medallion: StackMedallion, running_stack: Stack) -> TrinoServer:
    """The classic medallion, built on the stack by the pipeline's own (engineer) login."""
    result, _ = stack_medallion
    assert result.success
    return running_stack.trino


def attempt(login: TrinoLogin, action: Action, role: Role) -> list[list[object]]:
    statements: dict[Action, Callable[[], list[list[object]]]] = {
        Action.READ_GOLD: lambda: login.rows("SELECT total_revenue FROM gold.sales_kpis"),
        Action.READ_SILVER: lambda: login.rows("SELECT count(*) FROM silver.stg_orders"),
        Action.READ_BRONZE: lambda: login.rows("SELECT count(*) FROM bronze.orders"),
        Action.READ_PERSONAL_DATA: lambda: login.rows("SELECT DISTINCT contact_name FROM silver.stg_customers"),
        Action.CREATE_TABLE: lambda: login.rows(f"CREATE TABLE gold.security_created_by_{role.value} (id integer)"),
        Action.DROP_TABLE: lambda: login.rows(f"DROP TABLE gold.security_dropped_by_{role.value}"),
    }
    return statements[action]()


@pytest.mark.parametrize("role", list(EXPECTED))
@pytest.mark.parametrize("action", list(Action))
def test_each_role_may_do_what_its_row_says_in_trino(tables: TrinoServer, role: Role, action: Action) -> None:
    engineer = tables.login
    engineer.rows(f"DROP TABLE IF EXISTS gold.security_created_by_{role.value}")
    engineer.rows(f"CREATE TABLE IF NOT EXISTS gold.security_dropped_by_{role.value} (id integer)")
    expected = EXPECTED[role][action]
    login = login_as(tables, role)
    try:
        if expected is Outcome.DENIED:
            with pytest.raises(trino.exceptions.TrinoUserError) as denied:
                attempt(login, action, role)
            assert denied.value.error_name == "PERMISSION_DENIED", denied.value
            assert "Access Denied" in str(denied.value.message)
            return
        rows = attempt(login, action, role)
        if action is Action.READ_PERSONAL_DATA:
            names = {name for [name] in rows}
            assert names == {MASK} if expected is Outcome.MASKED else (len(names) > 1 and MASK not in names)
        elif action in {Action.READ_GOLD, Action.READ_SILVER, Action.READ_BRONZE}:
            [[value]] = rows
            assert value
    finally:
        engineer.rows(f"DROP TABLE IF EXISTS gold.security_created_by_{role.value}")
        engineer.rows(f"DROP TABLE IF EXISTS gold.security_dropped_by_{role.value}")


def test_a_wrong_password_is_rejected(running_stack: Stack) -> None:
    with pytest.raises(trino.exceptions.HttpError, match="401"):
        login_as(running_stack.trino, Role.ANALYST, password="not-the-password").rows("SELECT 1")


def test_plain_http_is_refused_with_or_without_a_password(running_stack: Stack) -> None:
    user = development_user(Role.ENGINEER)
    credentials = base64.b64encode(f"{user.name}:{user.development_password}".encode()).decode()
    for headers in ({"X-Trino-User": user.name}, {"Authorization": f"Basic {credentials}"}):
        response = requests.post(f"{running_stack.trino.http_url}/v1/statement", data="SELECT 1", headers=headers)
        assert response.status_code == 403, response.text
        assert "Authentication over HTTP is not enabled" in response.text


@dataclass(frozen=True)
class MetricsRead:
    role: Role
    status: int


@pytest.mark.parametrize(
    "read", [MetricsRead(Role.MONITOR, 200), MetricsRead(Role.ADMIN, 200), MetricsRead(Role.ANALYST, 403)]
)
def test_only_the_monitor_and_admin_read_trinos_metrics(running_stack: Stack, read: MetricsRead) -> None:
    login = login_as(running_stack.trino, read.role)
    response = requests.get(f"{login.url}/metrics", auth=(login.user, login.password), verify=login.ca_file, timeout=30)
    assert response.status_code == read.status, response.text[:200]


class BucketAction(StrEnum):
    WRITE_LANDING = "write to landing"
    READ_WAREHOUSE = "read the warehouse bucket"


BUCKET_EXPECTED: dict[Role, set[BucketAction]] = {
    Role.ADMIN: set(BucketAction),
    Role.ENGINEER: set(BucketAction),
    Role.PARTNER: {BucketAction.WRITE_LANDING},
    Role.ANALYST: set(),
    Role.VIEWER: set(),
}


def s3_as(settings: Settings, role: Role) -> Any:
    if role is Role.ADMIN:
        key, secret = settings.s3_admin_access_key, settings.s3_admin_secret_key
    elif role is Role.ENGINEER:
        key, secret = settings.s3_access_key, settings.s3_secret_key
    else:
        user = development_user(role)
        key, secret = user.name, user.development_password
    return s3_client(settings.s3_endpoint, key, secret, settings.s3_region)


def bucket_of(location: str) -> str:
    return urlsplit(location).netloc


def landing_key(settings: Settings, role: Role) -> str:
    """A key under the first dataset partners deliver to."""
    [bucket, prefix] = partner_prefixes(settings)[0].split("/", 1)
    assert bucket == bucket_of(settings.landing)
    return f"{prefix}security-probe-by-{role.value}.csv"


def attempt_in_minio(settings: Settings, role: Role, action: BucketAction) -> None:
    client = s3_as(settings, role)
    if action is BucketAction.WRITE_LANDING:
        client.put_object(Bucket=bucket_of(settings.landing), Key=landing_key(settings, role), Body=b"order_id\n1\n")
        return
    warehouse = bucket_of(settings.warehouse)
    [first, *_] = client.list_objects_v2(Bucket=warehouse, MaxKeys=1)["Contents"]
    assert client.get_object(Bucket=warehouse, Key=first["Key"])["Body"].read()


@pytest.mark.parametrize("role", list(BUCKET_EXPECTED))
@pytest.mark.parametrize("action", list(BucketAction))
def test_each_role_may_do_what_its_row_says_in_minio(
    stack_medallion: StackMedallion, running_stack: Stack, role: Role, action: BucketAction
) -> None:
    settings = running_stack.settings
    engineer = s3_as(settings, Role.ENGINEER)
    try:
        if action in BUCKET_EXPECTED[role]:
            attempt_in_minio(settings, role, action)
            return
        with pytest.raises(ClientError) as denied:
            attempt_in_minio(settings, role, action)
        assert denied.value.response["Error"]["Code"] == "AccessDenied", denied.value
    finally:
        engineer.delete_object(Bucket=bucket_of(settings.landing), Key=landing_key(settings, role))


def test_a_partner_writes_nowhere_but_its_landing_prefix(running_stack: Stack) -> None:
    settings = running_stack.settings
    partner = s3_as(settings, Role.PARTNER)
    for bucket, key in [
        (bucket_of(settings.landing), "sales_events/probe.csv"),
        (bucket_of(settings.warehouse), "probe"),
    ]:
        with pytest.raises(ClientError) as denied:
            partner.put_object(Bucket=bucket, Key=key, Body=b"x")
        assert denied.value.response["Error"]["Code"] == "AccessDenied"


def test_the_objects_the_lakehouse_wrote_are_encrypted_at_rest(
    stack_medallion: StackMedallion, running_stack: Stack
) -> None:
    """Data and metadata files of bronze (pyiceberg) and gold (Trino), through the S3 API."""
    settings = running_stack.settings
    catalog = catalog_for(settings)
    engineer = s3_as(settings, Role.ENGINEER)
    for name in ("bronze.orders", "gold.sales_kpis"):
        table = catalog.load_table(name)
        data_file = next(iter(table.inspect.files().column("file_path").to_pylist()))
        for location in (table.metadata_location, data_file):
            parts = urlsplit(location)
            head = engineer.head_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"))
            assert head["ServerSideEncryption"] == "AES256", location


class DatabaseAction(StrEnum):
    READ_SOURCE = "read the Northwind source"
    WRITE_SOURCE = "write the Northwind source"
    OPEN_CATALOG = "open the Iceberg catalog database"
    OPEN_DAGSTER = "open Dagster's storage"


DATABASE_EXPECTED: dict[str, set[DatabaseAction]] = {
    "source_url": {DatabaseAction.READ_SOURCE},
    "catalog_uri": {DatabaseAction.OPEN_CATALOG},
    "dagster_storage_url": {DatabaseAction.OPEN_DAGSTER},
}


def attempt_in_postgres(settings: Settings, login_setting: str, action: DatabaseAction) -> None:
    login = sa.make_url(getattr(settings, login_setting))
    databases = {
        DatabaseAction.READ_SOURCE: settings.source_url,
        DatabaseAction.WRITE_SOURCE: settings.source_url,
        DatabaseAction.OPEN_CATALOG: settings.catalog_uri,
        DatabaseAction.OPEN_DAGSTER: settings.dagster_storage_url,
    }
    database = sa.make_url(databases[action]).database
    conninfo = login.set(drivername="postgresql", database=database).render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        if action is DatabaseAction.READ_SOURCE:
            assert connection.execute("SELECT count(*) FROM orders").fetchone()
        elif action is DatabaseAction.WRITE_SOURCE:
            connection.execute("DELETE FROM orders WHERE order_id < 0")
        else:
            connection.execute("SELECT 1")


@pytest.mark.parametrize("login_setting", list(DATABASE_EXPECTED))
@pytest.mark.parametrize("action", list(DatabaseAction))
def test_each_database_login_may_do_what_its_row_says(
    stack_medallion: StackMedallion, running_stack: Stack, login_setting: str, action: DatabaseAction
) -> None:
    settings = running_stack.settings
    if action in DATABASE_EXPECTED[login_setting]:
        attempt_in_postgres(settings, login_setting, action)
        return
    # Refused at the connection (no CONNECT on the database) or at the statement.
    with pytest.raises((psycopg.OperationalError, psycopg.errors.InsufficientPrivilege), match="permission denied"):
        attempt_in_postgres(settings, login_setting, action)


def test_postgres_rejects_a_wrong_password_over_tcp(running_stack: Stack) -> None:
    source = sa.make_url(running_stack.settings.source_url).set(drivername="postgresql", password="not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(source.render_as_string(hide_password=False)).close()


def test_no_secret_reaches_dagsters_event_log_or_run_config(
    stack_medallion: StackMedallion, running_stack: Stack
) -> None:
    """The medallion's run on the stack: every event it logged and its run configuration."""
    result, instance = stack_medallion
    settings = running_stack.settings
    # Access keys are user names ("lakehouse", "engineer"), which logs may well name.
    secrets = {getattr(settings, name) for name in SECRET_SETTINGS - {"s3_access_key", "s3_admin_access_key"}}
    secrets |= {str(sa.make_url(getattr(settings, name)).password) for name in DATABASE_URL_SETTINGS}
    logged = [str(record) for record in instance.all_logs(result.run_id)]
    run = instance.get_run_by_id(result.run_id)
    assert run is not None and logged
    shown = "\n".join([*logged, str(run.run_config)])
    assert [secret for secret in secrets if secret in shown] == []
