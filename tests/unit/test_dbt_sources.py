"""dbt's bronze sources (dbt/models/sources.yml) agree with the bronze declarations in iceberg/.

Read as files: no dbt parse or run. Each problem names the table and what to change.
"""

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakehouse.iceberg.declarations import BronzeTableDeclaration, all_declarations
from lakehouse.settings import CHECKOUT_ROOT

SOURCES_YML = CHECKOUT_ROOT / "dbt" / "models" / "sources.yml"
BRONZE = "bronze"


def load_sources(path: Path = SOURCES_YML) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def bronze_source_tables(sources: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The tables of the dbt source named `bronze`."""
    return [table for source in sources.get("sources", []) if source["name"] == BRONZE for table in source["tables"]]


def source_problems(sources: Mapping[str, Any], declarations: Sequence[BronzeTableDeclaration]) -> list[str]:
    """Every way the bronze source disagrees with the declarations, one sentence each."""
    declared = {d.table: d for d in declarations}
    tables = bronze_source_tables(sources)
    listed = [table["name"] for table in tables]
    problems = [
        f"bronze table {name!r} is listed more than once in {SOURCES_YML.name}; keep one entry"
        for name in sorted({n for n in listed if listed.count(n) > 1})
    ]
    for name in sorted(set(declared) - set(listed)):
        problems.append(
            f"bronze table {name!r} is declared in {declared[name].declared_in} but missing from "
            f"{SOURCES_YML}; add it under source {BRONZE!r} with a description, "
            f"meta: {{dagster: {{asset_key: [{BRONZE}, {name}]}}}} and not_null/unique tests on its key"
        )
    for table in tables:
        name = table["name"]
        declaration = declared.get(name)
        if declaration is None:
            problems.append(
                f"source table {BRONZE}.{name} in {SOURCES_YML} has no declaration in iceberg/; "
                f"declare it in iceberg/{name}.yaml or remove it from {SOURCES_YML.name}"
            )
            continue
        asset_key = ((table.get("meta") or {}).get("dagster") or {}).get("asset_key")
        if asset_key != [BRONZE, name]:
            problems.append(
                f"source table {BRONZE}.{name}: meta.dagster.asset_key is {asset_key!r}; "
                f"set it to [{BRONZE}, {name}], the key of the bronze asset that loads the table"
            )
        if not table.get("description"):
            problems.append(f"source table {BRONZE}.{name}: add a description")
        columns = [field.name for field in declaration.iceberg_schema().fields]
        for column in table.get("columns") or []:
            if column["name"] not in columns:
                problems.append(
                    f"source table {BRONZE}.{name} lists column {column['name']!r}, which "
                    f"{declaration.declared_in} does not declare (its columns: {', '.join(columns)}); "
                    f"rename or remove it in {SOURCES_YML.name}, or declare it"
                )
    return problems


def test_bronze_sources_agree_with_declarations() -> None:
    problems = source_problems(load_sources(), all_declarations())
    assert not problems, "\n".join(problems)


def test_every_declared_key_is_tested_in_the_sources() -> None:
    """A single-column key has not_null and unique tests; composite keys are left to unique_combination."""
    tables = {table["name"]: table for table in bronze_source_tables(load_sources())}
    problems = []
    for declaration in all_declarations():
        if declaration.table not in tables or len(declaration.key) != 1:
            continue  # a missing table is the test above's; composite keys have unique_combination
        [key] = declaration.key
        tests = {
            column["name"]: {t if isinstance(t, str) else next(iter(t)) for t in column.get("data_tests") or []}
            for column in tables[declaration.table].get("columns") or []
        }.get(key, set())
        # Kafka may deliver a message twice, so bronze.sales_events holds copies; stg_sales_events keeps one.
        wanted = {"not_null"} if declaration.table == "sales_events" else {"not_null", "unique"}
        if not wanted <= tests:
            problems.append(
                f"source table {BRONZE}.{declaration.table}: "
                f"give key column {key!r} the tests {', '.join(sorted(wanted))}"
            )
    assert not problems, "\n".join(problems)


def without_table(sources: Mapping[str, Any], name: str) -> dict[str, Any]:
    changed = copy.deepcopy(dict(sources))
    for source in changed["sources"]:
        source["tables"] = [table for table in source["tables"] if table["name"] != name]
    return changed


def source_table(sources: Mapping[str, Any], name: str) -> dict[str, Any]:
    return next(table for table in bronze_source_tables(sources) if table["name"] == name)


def test_a_declared_table_missing_from_the_sources_is_named() -> None:
    problems = source_problems(without_table(load_sources(), "employees"), all_declarations())
    assert any("'employees'" in p and "employees.yaml" in p and "missing from" in p for p in problems), problems


def test_a_source_table_without_a_declaration_is_named() -> None:
    declarations = [d for d in all_declarations() if d.table != "categories"]
    problems = source_problems(load_sources(), declarations)
    assert any("bronze.categories" in p and "iceberg/categories.yaml" in p for p in problems), problems


@pytest.mark.parametrize("meta", [None, {"dagster": {"asset_key": ["silver", "orders"]}}, {"dagster": {}}])
def test_a_wrong_or_missing_asset_key_is_named(meta: dict[str, Any] | None) -> None:
    sources = copy.deepcopy(load_sources())
    source_table(sources, "orders")["meta"] = meta
    problems = source_problems(sources, all_declarations())
    assert any("bronze.orders" in p and "asset_key" in p and "[bronze, orders]" in p for p in problems), problems


def test_an_undeclared_column_is_named_and_lineage_columns_are_declared() -> None:
    sources = copy.deepcopy(load_sources())
    source_table(sources, "orders")["columns"].append({"name": "order_number"})
    source_table(sources, "orders")["columns"].append({"name": "_ingested_at"})
    problems = source_problems(sources, all_declarations())
    assert [p for p in problems if "bronze.orders" in p and "column" in p] == [
        next(p for p in problems if "'order_number'" in p)
    ], problems
