"""Two runs building the same dbt model at once, forced to interleave: both read the table, then
both commit. The model's rows must be there once, whichever commits first."""

import threading
from collections.abc import Callable
from typing import Any

import duckdb
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from lakehouse.iceberg.catalog import catalog_for
from lakehouse.iceberg.models import store_model
from lakehouse.settings import Settings

pytestmark = pytest.mark.bad_input

MODEL = ("silver", "stg_race")


def both_read_before_either_commits(catalogs: list[SqlCatalog]) -> None:
    """Make each catalog's first commit wait until every catalog is about to commit."""
    barrier = threading.Barrier(len(catalogs), timeout=30)
    for catalog in catalogs:
        commit = catalog.commit_table
        waited = threading.Event()

        def commit_after_the_others(
            *args: Any, _commit: Callable[..., Any] = commit, _waited: threading.Event = waited
        ) -> Any:
            if not _waited.is_set():
                _waited.set()
                barrier.wait()
            return _commit(*args)

        catalog.commit_table = commit_after_the_others  # type: ignore[method-assign]


def build_at_once(settings: Settings, sql: str, unique_key: list[str] | None) -> None:
    catalogs = [catalog_for(settings) for _ in range(2)]
    both_read_before_either_commits(catalogs)
    errors: list[BaseException] = []

    def build(catalog: SqlCatalog) -> None:
        with duckdb.connect() as connection:
            connection.execute(f"CREATE TABLE staged AS {sql}")
            try:
                store_model(catalog, connection, "staged", MODEL, unique_key)
            except BaseException as error:  # reported by the test thread below
                errors.append(error)

    threads = [threading.Thread(target=build, args=(catalog,)) for catalog in catalogs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def model_rows(settings: Settings) -> list[tuple[int, str]]:
    rows = catalog_for(settings).load_table(MODEL).scan().to_arrow().sort_by("id")
    return list(zip(rows["id"].to_pylist(), rows["label"].to_pylist(), strict=True))


@pytest.mark.usefixtures("catalog")
def test_two_builds_of_a_table_model_at_once_leave_its_rows_once(settings: Settings) -> None:
    build_at_once(settings, "SELECT range AS id, 'first' AS label FROM range(1000)", unique_key=None)

    assert model_rows(settings) == [(n, "first") for n in range(1000)]


@pytest.mark.usefixtures("catalog")
def test_two_merges_into_an_incremental_model_at_once_leave_each_key_once(settings: Settings) -> None:
    build_at_once(settings, "SELECT range AS id, 'first' AS label FROM range(1000)", unique_key=["id"])
    build_at_once(settings, "SELECT range AS id, 'second' AS label FROM range(900, 1100)", unique_key=["id"])

    assert model_rows(settings) == [(n, "first" if n < 900 else "second") for n in range(1100)]
