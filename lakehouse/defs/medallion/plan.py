"""Which dbt models a run builds: those whose inputs changed since their last build.

Each model's materialization records the Iceberg snapshot of every table it read (`INPUTS`) and
of its own table (`SNAPSHOT`); its code version covers its SQL, its config and the project's
macros (`model_code_version`). A selected model is unchanged when its last materialization has
its current code version, its table is still at the recorded snapshot, every table it reads is
too, and nothing it reads is rebuilt in the same run. dbt leaves unchanged models out, with the
tests that read nothing being built, and a run with nothing left does not start dbt at all: a
re-run with no new data writes no snapshot anywhere.

The snapshots of bronze are taken before dbt starts, so a load committed while dbt runs is
recorded as not read yet, and the next run builds again: an unneeded build is possible, a missed
one is not. When Dagster has no record (a new instance, a materialization from before), the model
is built.
"""

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import dagster as dg

# Dagster's record of a check's runs; completed ones are what tell a failure.
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError

from lakehouse.iceberg.commits import current_row_count

INPUTS = "lakehouse/inputs"
# A run with this tag set to "true" builds every selected model, changed or not.
REBUILD_TAG = "lakehouse/rebuild"
SNAPSHOT = "snapshot_id"
CODE_VERSION_TAG = "dagster/code_version"
PROJECT_PACKAGE = "lakehouse"

# Tables by name, ``schema.table``; a snapshot id as text, None for a table with no snapshot or no table.
Snapshots = Mapping[str, str | None]


@dataclass(frozen=True)
class LastBuild:
    """What a model's latest materialization recorded."""

    code_version: str | None
    snapshot: str | None
    inputs: Snapshots

    def matches(self, code_version: str, snapshot: str | None, inputs: Snapshots) -> bool:
        """Whether the build still stands: made by ``code_version``, its table still at the
        ``snapshot`` it committed, and every table it read still where ``inputs`` says."""
        return (
            self.code_version == code_version
            and self.snapshot is not None
            and self.snapshot == snapshot
            and all(self.inputs.get(table) == read for table, read in inputs.items())
        )


@dataclass(frozen=True)
class BuildPlan:
    build: frozenset[str]
    """unique ids of the selected models to build"""
    unchanged: frozenset[str]
    """unique ids of the selected models left as they are"""
    excluded_tests: frozenset[str]
    """unique ids of the tests on nothing but models not built and sources no build reads"""

    def dbt_exclude(self, manifest: Mapping[str, Any]) -> list[str]:
        """The names of the nodes dbt leaves out."""
        nodes = manifest["nodes"]
        return sorted(nodes[unique_id]["name"] for unique_id in self.unchanged | self.excluded_tests)


def table_name(manifest: Mapping[str, Any], unique_id: str) -> str:
    """The Iceberg table of a model or source, ``schema.table``."""
    if unique_id.startswith("source."):
        source = manifest["sources"][unique_id]
        return f"{source['schema']}.{source['identifier']}"
    node = manifest["nodes"][unique_id]
    return f"{node['schema']}.{node['alias']}"


def model_inputs(manifest: Mapping[str, Any], unique_id: str) -> list[str]:
    """The unique ids of the models and sources a model reads."""
    return [parent for parent in manifest["parent_map"][unique_id] if parent.startswith(("model.", "source."))]


def project_macros(manifest: Mapping[str, Any]) -> str:
    """A digest of the project's own macros, the materializations among them."""
    macros = sorted(
        (unique_id, macro["macro_sql"])
        for unique_id, macro in manifest["macros"].items()
        if macro["package_name"] == PROJECT_PACKAGE
    )
    return hashlib.sha256(json.dumps(macros).encode()).hexdigest()


def model_code_version(node: Mapping[str, Any], macros: str) -> str:
    """A digest of what decides a model's rows besides its inputs: its SQL, its config and the
    project's ``macros`` (`project_macros`)."""
    config = json.dumps(node["config"], sort_keys=True, default=str)
    return hashlib.sha256("\n".join((node.get("raw_code", ""), config, macros)).encode()).hexdigest()[:16]


def _topological(manifest: Mapping[str, Any], models: Iterable[str]) -> list[str]:
    ordered: list[str] = []
    seen: set[str] = set()

    def visit(unique_id: str) -> None:
        if unique_id in seen:
            return
        seen.add(unique_id)
        for parent in model_inputs(manifest, unique_id):
            if parent.startswith("model."):
                visit(parent)
        ordered.append(unique_id)

    for unique_id in sorted(models):
        visit(unique_id)
    return ordered


def plan_build(
    manifest: Mapping[str, Any],
    selected: Iterable[str],
    snapshots: Snapshots,
    last_build: Callable[[str], LastBuild | None],
    *,
    rebuild: bool = False,
) -> BuildPlan:
    """The plan for the ``selected`` models (unique ids) given every table's current snapshot;
    ``last_build`` looks a model's latest materialization up; ``rebuild`` builds every one."""
    chosen = set(selected)
    macros = project_macros(manifest)
    build: set[str] = set()
    for unique_id in _topological(manifest, chosen):
        if unique_id not in chosen:
            continue
        inputs = model_inputs(manifest, unique_id)
        tables = [table_name(manifest, parent) for parent in inputs]
        last = None if rebuild else last_build(unique_id)
        changed = (
            last is None
            or any(parent in build for parent in inputs)
            or not last.matches(
                model_code_version(manifest["nodes"][unique_id], macros),
                snapshots.get(table_name(manifest, unique_id)),
                {table: snapshots.get(table) for table in tables},
            )
        )
        if changed:
            build.add(unique_id)
    # A source's tests run with the builds that read it; a source no model reads, in every build.
    readers: dict[str, set[str]] = {}
    for unique_id, parents in manifest["parent_map"].items():
        for parent in parents:
            if parent.startswith("source.") and unique_id.startswith("model."):
                readers.setdefault(parent, set()).add(unique_id)
    idle = {source for source, models in readers.items() if not models & build}
    quiet = idle | {unique_id for unique_id in manifest["nodes"] if unique_id.startswith("model.")} - build
    excluded_tests = {
        unique_id
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] == "test" and quiet.issuperset(node["depends_on"]["nodes"])
    }
    return BuildPlan(frozenset(build), frozenset(chosen - build), frozenset(excluded_tests))


def _failed_last_time(instance: dg.DagsterInstance, check: dg.AssetCheckKey) -> bool:
    completed = {AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED}
    [*latest] = instance.event_log_storage.get_asset_check_execution_history(check, limit=1, status=completed)
    return bool(latest) and latest[0].status is AssetCheckExecutionRecordStatus.FAILED


def last_build(
    instance: dg.DagsterInstance, key: dg.AssetKey, blocking_checks: Iterable[dg.AssetCheckKey]
) -> LastBuild | None:
    """What the latest materialization of ``key`` recorded; None when it recorded no inputs, or when
    one of its ``blocking_checks`` failed when it last ran: the model is built and tested again,
    so that the models reading it wait on its tests, as in a dbt build."""
    entry = instance.get_latest_materialization_event(key)
    materialization = entry.asset_materialization if entry is not None else None
    if materialization is None or INPUTS not in materialization.metadata:
        return None
    if any(_failed_last_time(instance, check) for check in blocking_checks):
        return None
    inputs = materialization.metadata[INPUTS].value
    snapshot = materialization.metadata.get(SNAPSHOT)
    return LastBuild(
        code_version=(materialization.tags or {}).get(CODE_VERSION_TAG),
        snapshot=str(snapshot.value) if snapshot is not None else None,
        inputs=inputs if isinstance(inputs, dict) else {},
    )


def table_metadata(catalog: Catalog, key: dg.AssetKey) -> dict[str, Any]:
    """The row count, snapshot id and location a materialization of the table ``key`` records; none
    before its first snapshot."""
    try:
        table = catalog.load_table((key.path[0], key.path[-1]))
    except NoSuchTableError:
        return {}
    snapshot = table.current_snapshot()
    if snapshot is None or snapshot.summary is None:
        return {}
    return {
        "dagster/row_count": current_row_count(table),
        SNAPSHOT: str(snapshot.snapshot_id),
        "table_location": dg.MetadataValue.path(table.location()),
    }
