"""The Dagster instance: run and event storage in SQLite under DAGSTER_HOME on `local`, PostgreSQL on `stack`."""

import os
from pathlib import Path

import yaml

from lakehouse.settings import Settings

# Every asset that writes Iceberg tables runs in a pool of its own (its op's name), and each pool
# admits one step at a time: a sensor's run, a schedule's and `lakehouse materialize` never build
# the same tables at once; the second waits for the first.
CONCURRENCY = {"pools": {"default_limit": 1}}
# The daemon looks at queued runs every second rather than every five: a sensor's run starts sooner.
RUN_QUEUE = {"dequeue_interval_seconds": 1}


def instance_config(settings: Settings) -> dict[str, object]:
    config: dict[str, object] = {"concurrency": CONCURRENCY, "run_queue": RUN_QUEUE}
    if settings.dagster_storage_url:
        config["storage"] = {"postgres": {"postgres_url": settings.dagster_storage_url}}
    return config


def prepare_dagster_home(settings: Settings) -> Path:
    """DAGSTER_HOME (the environment's, else the settings') with a `dagster.yaml` for the profile."""
    home = Path(os.environ.get("DAGSTER_HOME") or settings.dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance_config(settings)))
    return home
