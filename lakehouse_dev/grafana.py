"""Grafana's provisioning and dashboards (`grafana/`), checked without a Grafana server.

No Grafana server can run here, so a dashboard is checked against Grafana's own schema by a
program on the Grafana Foundation SDK, built from the Go module proxy into the services cache once
(`lakehouse_dev/go/grafana-dashboards/`), and its PromQL is read out with Grafana's variables
filled in, for a real Prometheus to evaluate as it is.
"""

import json
import re
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lakehouse.settings import CHECKOUT_ROOT
from lakehouse_dev.services.go_build import WrappedProgram

DASHBOARD_VALIDATOR = WrappedProgram(
    wrapper="grafana-dashboards",
    module="github.com/grafana/grafana-foundation-sdk/go",
    package="lakehouse.dev/grafana-dashboards",
    binary_name="grafana-dashboards",
)
GRAFANA_DIR = CHECKOUT_ROOT / "grafana"
DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"
PROVISIONING_DIR = GRAFANA_DIR / "provisioning"
# Where compose mounts grafana/dashboards/ in the Grafana container: the dashboard provider reads it.
CONTAINER_DASHBOARDS_DIR = "/var/lib/grafana/dashboards"
DATASOURCE_UID = "prometheus"
# Grafana's own variables as it sets them for a panel showing the last hour: a rate window of
# four 15 s scrapes, the range itself.
BUILTIN_VARIABLES = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__interval_ms": "60000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}
# `$name`, `${name}`, `${name:format}` and the deprecated `[[name]]`.
VARIABLE_REFERENCE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)(?::\w+)?\]\]|\$(\w+)")


class DashboardValidatorError(Exception):
    """The validator could not check the dashboards at all: its own message says why."""


@dataclass(frozen=True)
class PanelQuery:
    """One PromQL target of a panel, with Grafana's variables filled in."""

    dashboard: str
    panel: str
    expr: str


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS_DIR.glob("*.json"))


def validate_dashboards(paths: Iterable[Path]) -> dict[Path, list[str]]:
    """Each dashboard's problems against Grafana's schema (none for a valid one), each naming
    where in the file it is."""
    command = [str(DASHBOARD_VALIDATOR.build()), *map(str, paths)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode not in (0, 1):  # 1: some dashboard has problems, which the report names
        raise DashboardValidatorError(completed.stderr.strip() or f"exit status {completed.returncode}")
    report: dict[str, list[str]] = json.loads(completed.stdout)
    return {Path(path): problems for path, problems in report.items()}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel of ``dashboard`` that is not a row, those inside collapsed rows included."""
    for panel in dashboard.get("panels", []):
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def variable_values(dashboard: dict[str, Any]) -> dict[str, str]:
    """Each template variable's value as its default selection makes it: ``.*`` for "All"."""
    values = {}
    for variable in dashboard.get("templating", {}).get("list", []):
        current = variable.get("current", {}).get("value")
        selected = current if isinstance(current, list) else [current] if current else []
        if not selected or "$__all" in selected:
            values[variable["name"]] = variable.get("allValue") or ".*"
        else:
            values[variable["name"]] = "|".join(selected)
    return values


def substituted(expr: str, values: dict[str, str]) -> str:
    def value(reference: re.Match[str]) -> str:
        name = next(group for group in reference.groups() if group)
        if name not in values:
            raise ValueError(f"${name} is neither a variable of the dashboard nor one of Grafana's own")
        return values[name]

    return VARIABLE_REFERENCE.sub(value, expr)


def panel_queries(dashboard_path: Path) -> list[PanelQuery]:
    """The PromQL of every target of every panel of the dashboard, ready for Prometheus to evaluate."""
    dashboard = json.loads(dashboard_path.read_text())
    values = BUILTIN_VARIABLES | variable_values(dashboard)
    return [
        PanelQuery(dashboard["title"], panel["title"], substituted(target["expr"], values))
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]
