"""The four roles of the platform, and the users the stack creates for them in development.

A development password is public (it is in this file and in the README): `LAKEHOUSE_ENV=production`
refuses to start with one (``lakehouse.settings``), and production users are added with
`lakehouse security add-user`.
"""

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """A role is a Trino group of the same name and a MinIO policy (``minio_access``)."""

    # Everything, including who may do what.
    ADMIN = "admin"
    # Runs the pipelines: reads and writes every layer, and the warehouse and landing buckets.
    ENGINEER = "engineer"
    # Reads silver and gold through Trino, with personal data masked.
    ANALYST = "analyst"
    # Reads the gold aggregates through Trino: what the dashboards show.
    VIEWER = "viewer"
    # Prometheus: reads Trino's metrics, and nothing else.
    MONITOR = "monitor"
    # A partner delivering files: writes under `landing/marketplace_orders/` in MinIO, nothing else.
    PARTNER = "partner"


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    development_password: str


# The pipeline's own identity is the engineer's: LAKEHOUSE_TRINO_USER and LAKEHOUSE_S3_ACCESS_KEY.
DEVELOPMENT_USERS = tuple(User(role.value, role, f"{role.value}-dev-password") for role in Role)
TRINO_ROLES = (Role.ADMIN, Role.ENGINEER, Role.ANALYST, Role.VIEWER, Role.MONITOR)
PIPELINE_ROLE = Role.ENGINEER


@dataclass(frozen=True)
class ServiceLogin:
    """A login of a server's own, outside the four roles: a root, a database's owner."""

    name: str
    development_password: str


# MinIO's root user: the admin role in MinIO (LAKEHOUSE_S3_ADMIN_ACCESS_KEY / _SECRET_KEY).
MINIO_ROOT = ServiceLogin("lakehouse", "lakehouse-secret")
# The stack's PostgreSQL logins (lakehouse/security/database_roles.py): the cluster's superuser,
# and one login per database.
POSTGRES_ADMIN = ServiceLogin("lakehouse", "lakehouse-dev-password")
DATABASE_USERS = {
    "northwind": ServiceLogin("northwind_reader", "northwind-reader-dev-password"),
    "iceberg": ServiceLogin("iceberg_owner", "iceberg-owner-dev-password"),
    "dagster": ServiceLogin("dagster_owner", "dagster-owner-dev-password"),
}
DEVELOPMENT_DATABASE_PASSWORDS = frozenset(
    user.development_password for user in (POSTGRES_ADMIN, *DATABASE_USERS.values())
)


def development_user(role: Role) -> User:
    return next(user for user in DEVELOPMENT_USERS if user.role is role)
