"""The Dagster instance: run and event storage in SQLite under DAGSTER_HOME on `local`, PostgreSQL on `stack`."""

import os
from pathlib import Path

import yaml

from lakehouse.settings import Settings


def instance_config(settings: Settings) -> dict[str, object]:
    if not settings.dagster_storage_url:
        return {}
    return {"storage": {"postgres": {"postgres_url": settings.dagster_storage_url}}}


def prepare_dagster_home(settings: Settings) -> Path:
    """DAGSTER_HOME (the environment's, else the settings') with a `dagster.yaml` for the profile."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    config = instance_config(settings)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config) if config else "")
    return home
