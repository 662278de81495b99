"""PostgreSQL's roles: each of the stack's databases gets a login of its own, with no more than it needs.

    northwind  northwind_reader  reads the source's tables (SELECT) and, when a table is declared
                                 `cdc`, the capture's replication slot (REPLICATION)
    iceberg    iceberg_owner     owns the catalog database (pyiceberg's and Trino's JDBC catalog)
    dagster    dagster_owner     owns Dagster's run, event and schedule storage

`lakehouse init` makes them as the cluster's superuser (LAKEHOUSE_POSTGRES_ADMIN_URL), with the
user names and passwords of the settings' URLs: change a URL's password and run `lakehouse init`
to rotate it. No database is open to PUBLIC; each grants CONNECT to its own login only.
"""

from dataclasses import dataclass

import sqlalchemy as sa

from lakehouse.settings import Settings


@dataclass(frozen=True)
class DatabaseLogin:
    setting: str
    # Owns its database (creates its tables), or only reads the tables the admin wrote.
    owns: bool


DATABASE_LOGINS = (
    DatabaseLogin("source_url", owns=False),
    DatabaseLogin("catalog_uri", owns=True),
    DatabaseLogin("dagster_storage_url", owns=True),
)


def _conninfo(url: sa.URL, database: str) -> str:
    return url.set(drivername="postgresql", database=database).render_as_string(hide_password=False)


def managed_url(settings: Settings, setting: str) -> sa.URL | None:
    """The URL of ``setting`` when its login is one `lakehouse init` manages: a user other than the
    admin, in the admin's PostgreSQL cluster."""
    if not settings.postgres_admin_url:
        return None
    admin = sa.make_url(settings.postgres_admin_url)
    url = sa.make_url(getattr(settings, setting))
    same_cluster = (url.host, url.port or 5432) == (admin.host, admin.port or 5432)
    if url.get_backend_name() != "postgresql" or not same_cluster or url.username in (None, admin.username):
        return None
    return url


def as_admin(settings: Settings, url: str) -> str:
    """``url``'s database, reached as the admin: how the stack's Northwind is written (`lakehouse
    generate`), since the pipeline's own source login may only read it."""
    if not settings.postgres_admin_url or not url.startswith("postgresql"):
        return url
    admin = sa.make_url(settings.postgres_admin_url)
    target = sa.make_url(url)
    return target.set(username=admin.username, password=admin.password).render_as_string(hide_password=False)


def _grant(login: DatabaseLogin, url: sa.URL, admin: sa.URL) -> None:
    import psycopg
    from psycopg import sql

    role, database = sql.Identifier(str(url.username)), sql.Identifier(str(url.database))
    with psycopg.connect(_conninfo(admin, "postgres"), autocommit=True) as server:
        exists = server.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [url.username]).fetchone()
        server.execute(sql.SQL("ALTER ROLE {} LOGIN" if exists else "CREATE ROLE {} LOGIN").format(role))
        server.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(role, sql.Literal(url.password)))
        if not server.execute("SELECT 1 FROM pg_database WHERE datname = %s", [url.database]).fetchone():
            server.execute(sql.SQL("CREATE DATABASE {}").format(database))
        server.execute(sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(database))
        server.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(database, role))
        if login.owns:
            server.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(database, role))
    with psycopg.connect(_conninfo(admin, str(url.database)), autocommit=True) as inside:
        if login.owns:
            # Tables an earlier version made as the admin become the owner's.
            inside.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(role))
            others = inside.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tableowner <> %s", [url.username]
            ).fetchall()
            for (table,) in others:
                inside.execute(sql.SQL("ALTER TABLE public.{} OWNER TO {}").format(sql.Identifier(table), role))
            return
        inside.execute(sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
        inside.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role))
        inside.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(role))
        inside.execute(
            sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public GRANT SELECT ON TABLES TO {}").format(
                sql.Identifier(str(admin.username)), role
            )
        )


def apply_database_roles(settings: Settings) -> list[str]:
    """Create or update the login of each database URL in the settings that `managed_url` names;
    the logins' names."""
    applied = []
    for login in DATABASE_LOGINS:
        url = managed_url(settings, login.setting)
        if url is not None:
            _grant(login, url, sa.make_url(settings.postgres_admin_url))
            applied.append(str(url.username))
    return applied


def apply_change_capture(settings: Settings) -> str | None:
    """The source's publication of its tables declared `cdc` on PostgreSQL, and REPLICATION for
    its login, which reads the slot; the publication's name. None when nothing is captured, no
    captured table exists yet (`lakehouse generate` publishes them once it wrote them), or the
    source's login is not one this lakehouse manages."""
    from lakehouse.iceberg.declarations import LoadMode, bronze_declarations
    from lakehouse.ingest.database.changes import prepare_publication, replication_name
    from lakehouse.ingest.database.source import SourceDatabase

    url = managed_url(settings, "source_url")
    if url is None:
        return None
    admin = _conninfo(sa.make_url(settings.postgres_admin_url), str(url.database))
    captured = [d.source.table for d in bronze_declarations() if d.load_mode(url.get_backend_name()) is LoadMode.CDC]
    present = set(sa.inspect(sa.create_engine(as_admin(settings, settings.source_url))).get_table_names())
    if not (tables := [table for table in captured if table in present]):
        return None
    source = SourceDatabase(settings.source_url)
    prepare_publication(admin, source, tables, str(url.username))
    return replication_name(source)
