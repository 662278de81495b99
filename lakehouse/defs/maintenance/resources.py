"""Where the table procedures run: in this process through pyiceberg on `local`, on the Trino
server on `stack`."""

import dagster as dg
from pydantic import Field

from lakehouse.defs.resources import secret
from lakehouse.maintenance.procedures import PyicebergProcedures, TableProcedures
from lakehouse.maintenance.trino_procedures import TrinoProcedures
from lakehouse.settings import Profile, Settings, load_settings
from lakehouse.trino_login import TrinoLogin


class TrinoServer(dg.Config):
    host: str
    port: int
    user: str
    password: str
    ca_file: str = Field(description="the certificate authority Trino's TLS certificate is checked against")


class TableMaintenanceResource(dg.ConfigurableResource):
    """The engine that compacts, expires and cleans the tables."""

    trino: TrinoServer | None = Field(
        default=None, description="Trino runs the table procedures when set; pyiceberg in the run's process otherwise"
    )

    def procedures(self) -> TableProcedures:
        if self.trino is None:
            return PyicebergProcedures()
        server = self.trino
        return TrinoProcedures(TrinoLogin(server.host, server.port, server.user, server.password, server.ca_file))


def table_maintenance(settings: Settings) -> TableMaintenanceResource:
    if settings.profile is not Profile.STACK:
        return TableMaintenanceResource()
    return TableMaintenanceResource(
        trino=TrinoServer(
            host=settings.trino_host,
            port=settings.trino_port,
            user=settings.trino_user,
            password=secret(settings, "trino_password"),
            ca_file=settings.trino_ca_file,
        )
    )


@dg.definitions
def maintenance_resources() -> dg.Definitions:
    return dg.Definitions(resources={"table_maintenance": table_maintenance(load_settings())})
