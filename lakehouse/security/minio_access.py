"""MinIO's users and policies, one per role, made through MinIO's admin API (the `minio` package).

The admin is MinIO's root user (LAKEHOUSE_S3_ADMIN_ACCESS_KEY); the pipeline is the engineer
(LAKEHOUSE_S3_ACCESS_KEY). Analysts and viewers read through Trino, which masks personal data, so
they get no access to the buckets at all: a user without a policy is denied every call.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from lakehouse.security.roles import DEVELOPMENT_USERS, PIPELINE_ROLE, Role
from lakehouse.settings import Environment, Settings, SettingsError

if TYPE_CHECKING:
    from minio import MinioAdmin

# MinIO answers a policy attached twice with this error; attaching is then already done.
ALREADY_ATTACHED = "policy change is already in effect"
MINIO_ROLES = (Role.ENGINEER, Role.ANALYST, Role.VIEWER, Role.PARTNER)
# The roles with a policy of the lakehouse's own (`role_policies`).
POLICY_ROLES = (Role.ENGINEER, Role.PARTNER)
BUILTIN_ADMIN_POLICY = "consoleAdmin"


def policy_name(role: Role) -> str:
    return f"lakehouse-{role.value}"


def _statement(actions: list[str], resources: Iterable[str]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": [f"arn:aws:s3:::{resource}" for resource in resources]}


def partner_prefixes(settings: Settings) -> list[str]:
    """``bucket/key prefix`` of each landing dataset (`iceberg/`): where partners deliver, and the
    only places they may write to."""
    from lakehouse.iceberg.declarations import landing_declarations

    landing = urlsplit(settings.landing)
    under = landing.path.strip("/")
    return [
        "/".join(part for part in (landing.netloc, under, declaration.landing.dataset) if part) + "/"
        for declaration in landing_declarations()
    ]


def role_policies(settings: Settings) -> dict[Role, dict[str, Any]]:
    """The IAM policy of each role that has one in MinIO."""
    buckets = sorted({_bucket(settings.warehouse), _bucket(settings.landing)})
    return {
        Role.ENGINEER: {
            "Version": "2012-10-17",
            "Statement": [_statement(["s3:*"], [*buckets, *(f"{bucket}/*" for bucket in buckets)])],
        },
        Role.PARTNER: {
            "Version": "2012-10-17",
            "Statement": [
                _statement(
                    ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                    [f"{prefix}*" for prefix in partner_prefixes(settings)],
                )
            ],
        },
    }


@dataclass(frozen=True)
class MinioLogin:
    access_key: str
    secret_key: str
    role: Role


def minio_logins(settings: Settings) -> list[MinioLogin]:
    """The pipeline's login, unless it is the root itself, and in development one development
    user per other role."""
    logins = []
    if settings.s3_access_key != settings.s3_admin_access_key:  # MinIO refuses a user named as its root
        logins.append(MinioLogin(settings.s3_access_key, settings.s3_secret_key, PIPELINE_ROLE))
    if settings.env is Environment.DEVELOPMENT:
        logins += [
            MinioLogin(user.name, user.development_password, user.role)
            for user in DEVELOPMENT_USERS
            if user.role in MINIO_ROLES and user.role is not PIPELINE_ROLE
        ]
    return logins


def _bucket(location: str) -> str:
    return urlsplit(location).netloc


def _admin(settings: Settings) -> "MinioAdmin":
    from minio import MinioAdmin
    from minio.credentials.providers import StaticProvider

    if not settings.s3_admin_access_key or not settings.s3_admin_secret_key:
        raise SettingsError(
            "MinIO's users are managed as its root: set LAKEHOUSE_S3_ADMIN_ACCESS_KEY and _SECRET_KEY "
            "(in docker-compose, run the command in the lakehouse-init service)"
        )
    endpoint = urlsplit(settings.s3_endpoint)
    return MinioAdmin(
        endpoint=endpoint.netloc,
        credentials=StaticProvider(settings.s3_admin_access_key, settings.s3_admin_secret_key),
        region=settings.s3_region,
        secure=endpoint.scheme == "https",
    )


def _set_user(admin: "MinioAdmin", login: MinioLogin) -> None:
    """Create the user or change its password, and attach its role's policy (the admin role gets
    MinIO's own `consoleAdmin`)."""
    from minio.error import MinioAdminException

    admin.user_add(login.access_key, login.secret_key)
    if login.role is Role.ADMIN:
        policy = BUILTIN_ADMIN_POLICY
    elif login.role in POLICY_ROLES:
        policy = policy_name(login.role)
    else:
        return
    try:
        admin.attach_policy([policy], user=login.access_key)
    except MinioAdminException as error:
        if ALREADY_ATTACHED not in str(error):
            raise


def _add_policies(admin: "MinioAdmin", settings: Settings) -> None:
    for role, policy in role_policies(settings).items():
        admin.policy_add(policy_name(role), policy=policy)


def apply_minio_access(settings: Settings) -> list[str]:
    """Create or update the role policies and the users of ``minio_logins``; the users' names.

    Run again, it changes nothing but the passwords, which it sets to the settings' (a rotation).
    """
    admin = _admin(settings)
    _add_policies(admin, settings)
    logins = minio_logins(settings)
    for login in logins:
        _set_user(admin, login)
    return [login.access_key for login in logins]


def set_minio_user(settings: Settings, login: MinioLogin) -> None:
    """Add one user with its role's policy, or change its password (`lakehouse security set-user`)."""
    admin = _admin(settings)
    _add_policies(admin, settings)
    _set_user(admin, login)
