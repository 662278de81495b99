"""How every client of the lakehouse logs in to Trino: HTTPS, a password, the stack's own CA."""

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from lakehouse.settings import Settings, SettingsError

if TYPE_CHECKING:
    import trino

TRINO_CATALOG = "iceberg"
# requests lets these variables win over a session's own `verify`; a machine that points them at
# the system's authorities would then reject the stack's certificate.
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


class _TrustedSession(requests.Session):
    """A session that checks certificates against its own ``verify``, whatever the environment says."""

    def merge_environment_settings(self, *arguments: Any, **options: Any) -> dict[str, Any]:
        settings: dict[str, Any] = super().merge_environment_settings(*arguments, **options)
        settings["verify"] = self.verify
        return settings


@dataclass(frozen=True)
class TrinoLogin:
    host: str
    port: int
    user: str
    password: str
    ca_file: str

    @classmethod
    def of(cls, settings: Settings) -> "TrinoLogin":
        """The pipeline's own login (the Data Engineer role)."""
        return cls(
            settings.trino_host,
            settings.trino_port,
            settings.trino_user,
            settings.trino_password,
            settings.trino_ca_file,
        )

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def connect(self, **options: Any) -> "trino.dbapi.Connection":
        import trino

        if not Path(self.ca_file).is_file():
            raise SettingsError(
                f"{Settings.variable_for('trino_ca_file')}: {self.ca_file} does not exist; `lakehouse init` makes "
                "the stack's certificate authority there, or point the variable at the one Trino's certificate is from"
            )
        session = _TrustedSession()
        session.verify = self.ca_file
        connection: trino.dbapi.Connection = trino.dbapi.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            http_scheme="https",
            auth=trino.auth.BasicAuthentication(self.user, self.password),
            http_session=session,
            catalog=TRINO_CATALOG,
            **options,
        )
        return connection

    def query(self, sql: str, **options: Any) -> tuple[list[list[Any]], str]:
        """Run one statement on a connection of its own (``options`` as `connect`'s); its rows and
        Trino's query id."""
        connection = self.connect(**options)
        try:
            cursor = connection.cursor()
            cursor.execute(sql)
            rows: list[list[Any]] = cursor.fetchall()
            return rows, str(cursor.query_id)
        finally:
            connection.close()

    def rows(self, sql: str) -> list[list[Any]]:
        """Run one statement on a connection of its own; its rows."""
        return self.query(sql)[0]
