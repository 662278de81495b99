"""grafana/: the dashboards against Grafana's own schema, their PromQL, and the provisioning.

No Grafana server can run here. Grafana's schema, as the Grafana Foundation SDK's Go types have it
(built from the Go module proxy by the harness), decodes each dashboard strictly and validates it;
every panel queries the provisioned Prometheus data source; every lakehouse metric a dashboard
names is one the exporter serves or a recording rule makes. That each expression evaluates on a
real Prometheus is the stack tests' part (`lakehouse_dev.grafana.panel_queries`).
"""

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakehouse.observability.metrics import METRICS
from lakehouse.settings import CHECKOUT_ROOT
from lakehouse_dev.grafana import (
    CONTAINER_DASHBOARDS_DIR,
    DASHBOARDS_DIR,
    DATASOURCE_UID,
    PROVISIONING_DIR,
    dashboard_files,
    panel_queries,
    panels,
    validate_dashboards,
)

EXPECTED_DASHBOARDS = {"lakehouse-overview.json", "ingestion.json", "query-engine.json"}
# What the exporter serves: every lakehouse metric a dashboard may name, besides recording rules.
EXPORTED_METRICS = frozenset(spec.name for spec in METRICS)
RULES_DIR = CHECKOUT_ROOT / "prometheus" / "rules"
PANEL_TYPES = {"stat", "timeseries", "table", "bargauge"}
# A PromQL string literal: its contents (label values, regular expressions) are no metric names.
STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"')
# A metric name, or a recording rule's `level:metric:operations`, not part of a longer word.
METRIC_NAME = re.compile(r"(?<![\w:])[a-zA-Z_:][\w:]*")
RANGE_FUNCTION = re.compile(r"\b(?:rate|irate|increase)\([^()]*\[([^\]]+)\]")

Dashboard = dict[str, Any]


def load(path: Path) -> Dashboard:
    board: Dashboard = json.loads(path.read_text())
    return board


def recorded_metrics() -> set[str]:
    """The names the recording rules under prometheus/rules/ record."""
    return {
        rule["record"]
        for rules_file in RULES_DIR.glob("*.yml")
        for group in yaml.safe_load(rules_file.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def lakehouse_metrics(expr: str) -> set[str]:
    names = METRIC_NAME.findall(STRING_LITERAL.sub('""', expr))
    return {name for name in names if name.startswith("lakehouse_") or (":" in name and "lakehouse" in name)}


@pytest.fixture(scope="module")
def dashboards() -> dict[Path, Dashboard]:
    return {path: load(path) for path in dashboard_files()}


def test_the_dashboards_are_there(dashboards: dict[Path, Dashboard]) -> None:
    assert {path.name for path in dashboards} == EXPECTED_DASHBOARDS


def test_every_dashboard_is_valid_by_grafanas_schema(dashboards: dict[Path, Dashboard]) -> None:
    assert validate_dashboards(list(dashboards)) == {path: [] for path in dashboards}


def _unknown_panel_field(board: Dashboard) -> None:
    next(panels(board))["titel"] = "a typo of title"


def _wrong_typed_grid_position(board: Dashboard) -> None:
    next(panels(board))["gridPos"]["w"] = "wide"


def _unknown_prometheus_query_field(board: Dashboard) -> None:
    next(panels(board))["targets"][0]["query"] = "up"


def _unknown_option_of_a_nested_panel(board: Dashboard) -> None:
    row = next(panel for panel in board["panels"] if panel["type"] == "row" and panel["panels"])
    row["panels"][0]["options"]["legendd"] = {}


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (_unknown_panel_field, r"panels\[\d+\]\.Panel: unexpected field 'titel'"),
        (_wrong_typed_grid_position, r"panels\[\d+\]\.gridPos\.w: .*cannot unmarshal string into .* uint32"),
        (_unknown_prometheus_query_field, r"panels\[\d+\]\.targets\[0\]\.Dataquery: unexpected field 'query'"),
        (
            _unknown_option_of_a_nested_panel,
            r"panels\[\d+\]\.panels\[0\]\.options\.Options: unexpected field 'legendd'",
        ),
    ],
)
def test_the_validator_names_the_file_and_the_problem(
    damage: Callable[[Dashboard], None], problem: str, tmp_path: Path
) -> None:
    source = DASHBOARDS_DIR / "query-engine.json"  # it has a collapsed row
    valid, broken = tmp_path / "valid.json", tmp_path / "broken.json"
    board = load(source)
    valid.write_text(json.dumps(board))
    damage(board)
    broken.write_text(json.dumps(board))
    report = validate_dashboards([valid, broken])
    assert report[valid] == []
    assert len(report[broken]) == 1 and re.fullmatch(problem, report[broken][0]), report[broken]


def test_every_panel_queries_the_provisioned_prometheus(dashboards: dict[Path, Dashboard]) -> None:
    prometheus = {"type": "prometheus", "uid": DATASOURCE_UID}
    for path, board in dashboards.items():
        for panel in panels(board):
            where = f"{path.name}: {panel['title']!r}"
            assert panel["datasource"] == prometheus, where
            assert panel["targets"], where
            for target in panel["targets"]:
                assert target["datasource"] == prometheus, where
                assert isinstance(target["expr"], str) and target["expr"].strip(), where


def test_the_dashboards_are_well_kept(dashboards: dict[Path, Dashboard]) -> None:
    uids = [board["uid"] for board in dashboards.values()]
    assert len(set(uids)) == len(uids)
    for path, board in dashboards.items():
        assert board["title"] and "lakehouse" in board["tags"], path.name
        rows = [panel for panel in board["panels"] if panel["type"] == "row"]
        ids = [panel["id"] for panel in [*rows, *panels(board)]]
        assert len(set(ids)) == len(ids), f"{path.name}: panel ids repeat"
        for panel in panels(board):
            where = f"{path.name}: {panel['title']!r}"
            assert panel["type"] in PANEL_TYPES, where
            assert panel["fieldConfig"]["defaults"]["unit"], where
            for target in panel["targets"]:
                # Grafana sizes the window to the scrape interval and the panel's resolution.
                for window in RANGE_FUNCTION.findall(target["expr"]):
                    assert window in {"$__rate_interval", "$__range"}, f"{where}: {target['expr']}"


def test_every_lakehouse_metric_is_exported_or_recorded(dashboards: dict[Path, Dashboard]) -> None:
    known = EXPORTED_METRICS | recorded_metrics()
    used = {name for path in dashboards for query in panel_queries(path) for name in lakehouse_metrics(query.expr)}
    assert used, "no dashboard names a lakehouse metric"
    assert used <= known, f"not exported nor recorded: {sorted(used - known)}"


def test_the_metric_check_sees_names_only_outside_strings() -> None:
    expr = 'sum(table:lakehouse_x:rate5m) + lakehouse_y{job=~"lakehouse_z|trino"} + rate(up[1m:15s])'
    assert lakehouse_metrics(expr) == {"table:lakehouse_x:rate5m", "lakehouse_y"}


def test_panel_queries_are_ready_for_prometheus(dashboards: dict[Path, Dashboard]) -> None:
    for path, board in dashboards.items():
        queries = panel_queries(path)
        assert len(queries) == sum(len(panel["targets"]) for panel in panels(board))
        assert {query.dashboard for query in queries} == {board["title"]}
        for query in queries:
            assert "$" not in query.expr and "[[" not in query.expr, query


def test_panel_queries_fill_in_grafanas_variables_and_the_dashboards(tmp_path: Path) -> None:
    board = {
        "title": "Variables",
        "templating": {
            "list": [
                {"name": "layer", "includeAll": True, "current": {"value": ["$__all"]}},
                {"name": "table", "current": {"value": ["bronze.orders", "bronze.customers"]}},
                {"name": "job", "current": {"value": "medallion"}},
            ]
        },
        "panels": [
            {
                "type": "row",
                "title": "Collapsed",
                "panels": [
                    {
                        "type": "timeseries",
                        "title": "Nested",
                        "targets": [{"expr": 'rate(x{layer=~"$layer",table=~"${table:regex}"}[$__rate_interval])'}],
                    }
                ],
            },
            {"type": "stat", "title": "Top", "targets": [{"expr": 'increase(y{job="[[job]]"}[$__range])'}]},
        ],
    }
    path = tmp_path / "variables.json"
    path.write_text(json.dumps(board))
    assert [(query.panel, query.expr) for query in panel_queries(path)] == [
        ("Nested", 'rate(x{layer=~".*",table=~"bronze.orders|bronze.customers"}[1m])'),
        ("Top", 'increase(y{job="medallion"}[1h])'),
    ]


def test_panel_queries_refuse_a_variable_nobody_defines(tmp_path: Path) -> None:
    path = tmp_path / "undefined.json"
    board = {
        "title": "Undefined",
        "panels": [{"type": "stat", "title": "P", "targets": [{"expr": "up{job=~'$jobs'}"}]}],
    }
    path.write_text(json.dumps(board))
    with pytest.raises(ValueError, match=r"\$jobs is neither a variable of the dashboard nor one of Grafana's own"):
        panel_queries(path)


def test_the_provisioning_points_at_the_dashboards_and_their_data_source() -> None:
    datasources = yaml.safe_load((PROVISIONING_DIR / "datasources" / "prometheus.yml").read_text())
    assert [(source["type"], source["uid"], source["url"]) for source in datasources["datasources"]] == [
        ("prometheus", DATASOURCE_UID, "http://prometheus:9090")
    ]
    providers = yaml.safe_load((PROVISIONING_DIR / "dashboards" / "lakehouse.yml").read_text())["providers"]
    assert [(provider["type"], provider["options"]["path"]) for provider in providers] == [
        ("file", CONTAINER_DASHBOARDS_DIR)
    ]
