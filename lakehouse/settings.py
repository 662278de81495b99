"""The one place that reads the environment.

Every setting is a ``LAKEHOUSE_*`` variable with a default per profile. ``load_settings()`` is
called when a process starts (the CLI, the Dagster code location) and its result is passed
on as resources; nothing reads the environment at import time.
"""

import os
import re
import tempfile
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lakehouse.logs import LogFormat
from lakehouse.security.roles import (
    DATABASE_USERS,
    DEVELOPMENT_DATABASE_PASSWORDS,
    MINIO_ROOT,
    PIPELINE_ROLE,
    POSTGRES_ADMIN,
    development_user,
)

ENV_PREFIX = "LAKEHOUSE_"
PACKAGE_ROOT = Path(__file__).resolve().parent
CHECKOUT_ROOT = PACKAGE_ROOT.parent
DBT_TARGETS = ("duckdb", "trino")
SPARK_MASTER = re.compile(r"local(\[(\d+|\*)\])?|(spark|k8s)://.+|yarn")
# dagster-postgres needs psycopg2 (its NOTIFY statements do not bind with psycopg 3).
DAGSTER_STORAGE_DRIVER = "postgresql+psycopg2"
# Rows per chunk of an extraction, and per data file. Measured at 10M order lines against 2M:
# about 10% faster (the last chunk's write, which nothing overlaps, is shorter) and a quarter
# less peak memory, for data files of 6 to 20 MB.
EXTRACT_CHUNK_ROWS = 1_000_000
# The databases the lakehouse can read its source from and keep its catalog in (pyiceberg's
# SqlCatalog), and Dagster's storage when it is not the default SQLite.
DATABASE_BACKENDS = ("sqlite", "postgresql")
DAGSTER_STORAGE_BACKENDS = ("postgresql",)
# Credentials and the URLs that may carry them: the Dagster UI shows these only as variable names.
SECRET_SETTINGS = frozenset(
    {
        "source_url",
        "catalog_uri",
        "s3_access_key",
        "s3_secret_key",
        "s3_admin_access_key",
        "s3_admin_secret_key",
        "dagster_storage_url",
        "postgres_admin_url",
        "trino_password",
        "trino_shared_secret",
    }
)
# The secrets whose development default `LAKEHOUSE_ENV=production` refuses.
# The database URLs, whose password `LAKEHOUSE_ENV=production` refuses when it is a development one.
DATABASE_URL_SETTINGS = ("source_url", "catalog_uri", "dagster_storage_url", "postgres_admin_url")
PIPELINE_USER = development_user(PIPELINE_ROLE)
TRINO_DEVELOPMENT_SHARED_SECRET = "trino-dev-shared-secret"
# The secrets whose development default `LAKEHOUSE_ENV=production` refuses, and those defaults.
DEVELOPMENT_SECRETS = {
    "s3_secret_key": PIPELINE_USER.development_password,
    "s3_admin_secret_key": MINIO_ROOT.development_password,
    "trino_password": PIPELINE_USER.development_password,
    "trino_shared_secret": TRINO_DEVELOPMENT_SHARED_SECRET,
}
PASSWORD_SETTINGS = frozenset(DEVELOPMENT_SECRETS)


def stack_postgres_url(database: str, port: int = 5432, driver: str = "postgresql+psycopg") -> str:
    """A database on the stack's PostgreSQL, which holds the Northwind source, the Iceberg catalog
    and Dagster's storage, as its own development login (the admin's for any other database)."""
    login = DATABASE_USERS.get(database, POSTGRES_ADMIN)
    return f"{driver}://{login.name}:{login.development_password}@127.0.0.1:{port}/{database}"


class Profile(StrEnum):
    LOCAL = "local"
    STACK = "stack"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    # Refuses to start with a development default secret (`Settings.development_secrets`).
    PRODUCTION = "production"


class SettingsError(Exception):
    """A setting has a value the lakehouse cannot start with."""


def default_home() -> Path:
    """`.lakehouse/` in the checkout, or in the working directory for a non-editable install."""
    root = CHECKOUT_ROOT if (CHECKOUT_ROOT / "pyproject.toml").exists() else Path.cwd()
    return root / ".lakehouse"


def check_database_url(value: str, backends: tuple[str, ...] | None = None) -> None:
    """Raise ValueError unless ``value`` is a SQLAlchemy URL, to one of ``backends`` (by default any
    database SQLAlchemy knows), whose driver is installed."""
    import sqlalchemy as sa

    try:
        url = sa.make_url(value)
    except sa.exc.ArgumentError:
        raise ValueError(
            "expected a SQLAlchemy URL such as sqlite:///path/to.db or postgresql+psycopg://user@host/db"
        ) from None
    if backends is not None and url.get_backend_name() not in backends:
        expected = " or ".join(f"{backend}://" for backend in backends)
        raise ValueError(f"unsupported database {url.get_backend_name()!r}; expected {expected}")
    try:
        url.get_dialect().import_dbapi()
    except sa.exc.NoSuchModuleError:
        raise ValueError(f"unsupported database {url.get_backend_name()!r}") from None
    except ImportError:
        raise ValueError(f"the driver of {url.drivername!r} is not installed") from None


def _database_url(backends: tuple[str, ...]) -> Callable[[str], str]:
    """A validator of a setting that is empty (the profile's default) or a URL to one of ``backends``."""

    def check(value: str) -> str:
        if value:
            check_database_url(value, backends)
        return value

    return check


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    profile: Profile = Profile.LOCAL
    env: Environment = Environment.DEVELOPMENT
    home: Path = Field(default_factory=default_home)
    # Empty means the profile's default, filled in below.
    source_url: str = ""
    catalog_name: str = "lakehouse"
    catalog_uri: str = ""
    warehouse: str = ""
    s3_endpoint: str = "http://127.0.0.1:9000"
    # The pipeline's own MinIO login: the Data Engineer role (lakehouse/security/minio_access.py).
    s3_access_key: str = PIPELINE_USER.name
    s3_secret_key: str = PIPELINE_USER.development_password
    # MinIO's root: only `lakehouse init` and `lakehouse security` use it, to create the buckets,
    # users and policies. Empty: the development root in development, none in production, where
    # only the process that administers gets it.
    s3_admin_access_key: str = ""
    s3_admin_secret_key: str = ""
    s3_region: str = "us-east-1"
    dbt_target: str = ""
    trino_host: str = "127.0.0.1"
    # Trino's HTTPS port: it takes passwords over TLS only.
    trino_port: int = Field(default=8443, gt=0, lt=65536)
    # The pipeline's own login (dbt, maintenance, `lakehouse query`): the Data Engineer role.
    trino_user: str = PIPELINE_USER.name
    trino_password: str = PIPELINE_USER.development_password
    # The certificate authority Trino's certificate is checked against; empty: the one
    # `lakehouse init` made under LAKEHOUSE_HOME/security.
    trino_ca_file: str = ""
    # What Trino's nodes prove themselves to each other with; only Trino reads it.
    trino_shared_secret: str = TRINO_DEVELOPMENT_SHARED_SECRET
    # Empty: off on `local`; the stack's broker on `stack`.
    kafka_bootstrap_servers: str = ""
    # Dagster's run and event storage; empty on `local` (SQLite under DAGSTER_HOME).
    dagster_storage_url: str = ""
    # The stack's PostgreSQL superuser, with which `lakehouse init` makes each database's login;
    # empty as the MinIO root is.
    postgres_admin_url: str = ""
    # Where partners deliver files: a directory on `local`, the MinIO bucket `landing` on `stack`.
    landing: str = ""
    # A landing file is taken once it has not changed for this long: a writer that pauses longer
    # must write under a temporary name and rename the file when it is complete.
    landing_settle_seconds: float = Field(default=2.0, ge=0)
    sensor_interval_seconds: int = Field(default=10, gt=0)
    extract_chunk_rows: int = Field(default=EXTRACT_CHUNK_ROWS, gt=0)
    extract_concurrency: int = Field(default=2, gt=0)
    # `json`: one JSON object per log line, from the CLI, the exporter and the runs (lakehouse/logs.py).
    log_format: LogFormat = LogFormat.TEXT
    # Where the Spark models run (lakehouse/defs/spark/): `local[*]` in the run's own process, or
    # a cluster's master, `spark://host:7077`.
    spark_master: str = "local[*]"
    # The memory of the driver, which on `local[*]` does all the work.
    spark_driver_memory: str = "2g"
    # Where `make install` put the jars Spark loads beside its own (lakehouse/spark/jars.py).
    spark_jars_dir: Path = CHECKOUT_ROOT / ".cache" / "spark-jars"

    _check_source_url = field_validator("source_url")(_database_url(DATABASE_BACKENDS))
    _check_catalog_uri = field_validator("catalog_uri")(_database_url(DATABASE_BACKENDS))
    _check_dagster_storage_url = field_validator("dagster_storage_url")(_database_url(DAGSTER_STORAGE_BACKENDS))
    _check_postgres_admin_url = field_validator("postgres_admin_url")(_database_url(DAGSTER_STORAGE_BACKENDS))

    @field_validator("dbt_target")
    @classmethod
    def _check_dbt_target(cls, value: str) -> str:
        if value and value not in DBT_TARGETS:
            raise ValueError(f"expected one of {', '.join(DBT_TARGETS)}")
        return value

    @field_validator("spark_master")
    @classmethod
    def _check_spark_master(cls, value: str) -> str:
        if not SPARK_MASTER.fullmatch(value):
            raise ValueError("expected local, local[N], local[*] or a cluster's master URL such as spark://host:7077")
        return value

    @field_validator("warehouse", "landing")
    @classmethod
    def _check_location(cls, value: str) -> str:
        if value and not value.startswith(("file://", "s3://")):
            raise ValueError("expected a file:// or s3:// location")
        return value

    @model_validator(mode="after")
    def _fill_profile_defaults(self) -> "Settings":
        home = self.home.expanduser().resolve()
        stack = self.profile is Profile.STACK
        development = self.env is Environment.DEVELOPMENT
        defaults = {
            "home": home,
            "source_url": self.source_url
            or (stack_postgres_url("northwind") if stack else f"sqlite:///{home}/northwind.db"),
            "catalog_uri": self.catalog_uri
            or (stack_postgres_url("iceberg") if stack else f"sqlite:///{home}/catalog.db"),
            "warehouse": self.warehouse or ("s3://warehouse/" if stack else f"file://{home}/warehouse"),
            "landing": self.landing or ("s3://landing/" if stack else f"file://{home}/landing"),
            "dbt_target": self.dbt_target or ("trino" if stack else "duckdb"),
            "trino_ca_file": self.trino_ca_file or str(home / "security" / "ca.pem"),
            "kafka_bootstrap_servers": self.kafka_bootstrap_servers or ("127.0.0.1:9092" if stack else ""),
            "dagster_storage_url": self.dagster_storage_url
            or (stack_postgres_url("dagster", driver=DAGSTER_STORAGE_DRIVER) if stack else ""),
            "postgres_admin_url": self.postgres_admin_url
            or (stack_postgres_url("postgres") if stack and development else ""),
            "s3_admin_access_key": self.s3_admin_access_key or (MINIO_ROOT.name if development else ""),
            "s3_admin_secret_key": self.s3_admin_secret_key or (MINIO_ROOT.development_password if development else ""),
        }
        for name, value in defaults.items():
            object.__setattr__(self, name, value)
        if self.env is Environment.PRODUCTION and (defaults_left := self.development_secrets()):
            names = ", ".join(self.variable_for(name) for name in defaults_left)
            raise ValueError(
                f"LAKEHOUSE_ENV=production: {names} still hold the documented development defaults; set your own"
            )
        return self

    def development_secrets(self) -> list[str]:
        """The secret settings that hold their public development default (README, "Security")."""
        passwords = [name for name in PASSWORD_SETTINGS if getattr(self, name) == DEVELOPMENT_SECRETS[name]]
        urls = [
            name
            for name in DATABASE_URL_SETTINGS
            if _url_password(getattr(self, name)) in DEVELOPMENT_DATABASE_PASSWORDS
        ]
        return sorted(passwords + urls)

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @staticmethod
    def variable_for(name: str) -> str:
        """The environment variable of the setting ``name``."""
        return f"{ENV_PREFIX}{name.upper()}"

    def configured(self, name: str) -> bool:
        """Whether the setting ``name`` holds the value its environment variable gives it, not a default."""
        return os.environ.get(self.variable_for(name)) == str(getattr(self, name))

    def environment(self) -> dict[str, str]:
        """These settings as the ``LAKEHOUSE_*`` variables that child processes (dbt, Trino) read."""
        return {self.variable_for(name): str(value) for name, value in self.model_dump(mode="json").items()}

    def public_environment(self) -> dict[str, str]:
        """`environment()` without the secrets (`SECRET_SETTINGS`)."""
        secrets = {self.variable_for(name) for name in SECRET_SETTINGS}
        return {name: value for name, value in self.environment().items() if name not in secrets}


def _url_password(url: str) -> str | None:
    import sqlalchemy as sa

    return sa.make_url(url).password if url else None


def _describe(error: ValidationError) -> str:
    problems = []
    for detail in error.errors():
        message = str(detail["msg"]).removeprefix("Value error, ")
        if not detail["loc"]:  # a check across settings, whose message names them
            problems.append(message)
            continue
        variable = Settings.variable_for(str(detail["loc"][0]))
        problems.append(f"{variable}: {message} (got {detail.get('input')!r})")
    return "; ".join(problems)


def load_settings(**overrides: Any) -> Settings:
    """Read the settings from the environment, or fail with one message naming each bad variable.

    ``overrides`` win over the environment (`lakehouse services up` is always about `stack`).
    """
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsError(f"invalid lakehouse settings: {_describe(error)}") from None


def check_home(settings: Settings) -> None:
    """At start-up: ``LAKEHOUSE_HOME`` exists (created when missing) and takes new files."""
    try:
        settings.home.mkdir(parents=True, exist_ok=True)
        # A real write: permissions alone do not tell a read-only file system, nor what root may do.
        with tempfile.TemporaryFile(dir=settings.home):
            pass
    except OSError as error:
        raise SettingsError(
            f"{Settings.variable_for('home')}: {settings.home} is not writable ({error.strerror}); "
            "point it at a directory you can write to"
        ) from None


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite database URL; None for other databases and in-memory SQLite."""
    # The profile's default URLs, read by every command, are read without importing SQLAlchemy (a
    # third of a second): with no query string and no escapes, its parse is the rest of the URL.
    database = url.removeprefix("sqlite:///")
    if database != url and not any(mark in database for mark in "?%"):
        return Path(database) if database else None
    import sqlalchemy as sa

    parsed = sa.make_url(url)
    return Path(parsed.database) if parsed.get_backend_name() == "sqlite" and parsed.database else None


def check_source(settings: Settings) -> None:
    """At start-up of an extraction: a SQLite source exists, where opening it would create an empty one."""
    path = sqlite_path(settings.source_url)
    if path is not None and not path.is_file():
        raise SettingsError(
            f"{Settings.variable_for('source_url')}: the source database {path} does not exist; "
            "create it with `lakehouse generate`, or point the variable at your Northwind database"
        )
