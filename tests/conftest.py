"""Shared fixtures: an isolated lakehouse under a temporary LAKEHOUSE_HOME."""

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyiceberg.catalog.sql import SqlCatalog

from lakehouse.iceberg.catalog import catalog_for, prepare_catalog
from lakehouse.ingest.database.source import SourceDatabase
from lakehouse.settings import ENV_PREFIX, Settings
from lakehouse_dev.compose import COMPOSE_CLI
from lakehouse_dev.generators.northwind.generator import parse_scale
from lakehouse_dev.generators.northwind.load import write_northwind
from lakehouse_dev.grafana import DASHBOARD_VALIDATOR
from lakehouse_dev.services.stack import install_services
from lakehouse_dev.terraform import cli_config
from tests.medallion import BuiltLakehouse, build_classic_lakehouse

INSTALLING_SERVICES = pytest.StashKey[threading.Thread]()


def _install_services_quietly() -> None:
    try:
        install_services()
        COMPOSE_CLI.build()
        DASHBOARD_VALIDATOR.build()
        cli_config()
    except Exception:  # the tests that need them install again, and report what stopped it
        return


def pytest_collection_finish(session: pytest.Session) -> None:
    """The servers' software, the Compose CLI and the Terraform providers download and build while
    the tests before those that need them run."""
    if any(item.get_closest_marker("stack") for item in session.items):
        installing = threading.Thread(target=_install_services_quietly, name="install-services", daemon=True)
        installing.start()
        session.stash[INSTALLING_SERVICES] = installing


def pytest_sessionfinish(session: pytest.Session) -> None:
    if (installing := session.stash.get(INSTALLING_SERVICES, None)) is not None:
        installing.join()


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test sees the developer's own lakehouse settings or Dagster instance."""
    for name in [name for name in os.environ if name.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LAKEHOUSE_HOME", str(tmp_path / "lakehouse"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    (tmp_path / "dagster").mkdir()
    yield


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # A test writes each landing file whole, so none needs time to settle; the settle rule has tests of its own.
    return Settings(home=tmp_path / "lakehouse", landing_settle_seconds=0)


@pytest.fixture
def classic_source(settings: Settings) -> SourceDatabase:
    write_northwind(settings.source_url, parse_scale("classic"))
    return SourceDatabase(settings.source_url)


@pytest.fixture
def catalog(settings: Settings) -> SqlCatalog:
    """The settings' catalog after `lakehouse init`: the namespaces and the declared bronze tables."""
    catalog = catalog_for(settings)
    prepare_catalog(catalog)
    return catalog


@pytest.fixture(scope="session")
def classic_lakehouse(tmp_path_factory: pytest.TempPathFactory) -> BuiltLakehouse:
    """Built once for the session, by the first test that asks; the tests that share it only read it."""
    return build_classic_lakehouse(tmp_path_factory)
