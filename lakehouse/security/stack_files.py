"""The security files of a stack, under LAKEHOUSE_HOME/security, made by `lakehouse init`.

    ca.pem, ca-key.pem         the authority clients trust (LAKEHOUSE_TRINO_CA_FILE)
    trino/server.pem           Trino's key and certificate
    trino/password.db          Trino's logins (PBKDF2 hashes)
    trino/groups.txt           each login's role
    prometheus/trino.password  the monitor's password, which Prometheus scrapes Trino with

docker-compose's Trino and Prometheus mount the same directory from the home volume.
"""

from dataclasses import dataclass
from pathlib import Path

from lakehouse.security.certificates import ensure_server_certificate
from lakehouse.security.files import write_replacing
from lakehouse.security.roles import DEVELOPMENT_USERS, PIPELINE_ROLE, TRINO_ROLES, Role
from lakehouse.security.trino_files import TrinoLogins
from lakehouse.settings import Environment, Settings

# The names Trino answers to: on this machine, and as compose's service `trino`.
TRINO_HOSTS = ("localhost", "127.0.0.1", "trino")


@dataclass(frozen=True)
class SecurityFiles:
    directory: Path

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key_file(self) -> Path:
        return self.directory / "ca-key.pem"

    @property
    def trino_dir(self) -> Path:
        return self.directory / "trino"

    @property
    def trino_server_pem(self) -> Path:
        return self.trino_dir / "server.pem"

    @property
    def trino_logins(self) -> TrinoLogins:
        return TrinoLogins(self.trino_dir)

    @property
    def monitor_password_file(self) -> Path:
        return self.directory / "prometheus" / "trino.password"

    def set_user(self, user: str, role: Role, password: str) -> None:
        """Add or update a Trino login; the monitor's password is also Prometheus's."""
        self.trino_logins.set_user(user, role, password)
        if role is Role.MONITOR:
            # Readable by all, as Trino's own files: compose's Prometheus runs as another user.
            write_replacing(self.monitor_password_file, password.encode(), 0o644)


def security_files(settings: Settings) -> SecurityFiles:
    return SecurityFiles(settings.home / "security")


def prepare_security(settings: Settings) -> SecurityFiles:
    """The certificate, and the logins: in development every role's development user; always the
    pipeline's own login with LAKEHOUSE_TRINO_PASSWORD, so changing that variable and running
    `lakehouse init` rotates it."""
    files = security_files(settings)
    hosts = {*TRINO_HOSTS, settings.trino_host}
    ensure_server_certificate(files.trino_server_pem, files.ca_file, files.ca_key_file, hosts)
    existing = files.trino_logins.users()
    if settings.env is Environment.DEVELOPMENT:
        for user in DEVELOPMENT_USERS:
            if user.role in TRINO_ROLES and user.name not in existing and user.name != settings.trino_user:
                files.set_user(user.name, user.role, user.development_password)
    if not files.trino_logins.password_is(settings.trino_user, settings.trino_password):
        files.set_user(settings.trino_user, PIPELINE_ROLE, settings.trino_password)
    return files
