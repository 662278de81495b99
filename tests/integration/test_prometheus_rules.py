"""Prometheus's configuration, recording rules and alerts (prometheus/): promtool checks them and
runs their unit tests, and a real Prometheus loads and evaluates them."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from lakehouse_dev.services.process import ServiceUnavailable, free_port
from lakehouse_dev.services.prometheus import CONFIG_DIR, CONFIG_FILE, PrometheusServer, install_prometheus, promtool
from tests.stack.conftest import started, unavailable

pytestmark = pytest.mark.stack

RULE_FILES = sorted((CONFIG_DIR / "rules").glob("*.yml"))
TEST_FILES = sorted((CONFIG_DIR / "tests").glob("*.yml"))
SEVERITIES = {"critical", "warning"}


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def rules(kind: str) -> list[dict[str, Any]]:
    """Every rule of ``kind`` ("alert" or "record") in prometheus/rules/."""
    return [rule for path in RULE_FILES for group in load(path)["groups"] for rule in group["rules"] if kind in rule]


def unit_tests() -> list[dict[str, Any]]:
    return [test for path in TEST_FILES for test in load(path)["tests"]]


@pytest.fixture(scope="module")
def prometheus_installed() -> None:
    try:
        install_prometheus()
    except ServiceUnavailable as error:
        unavailable(str(error))


def test_rule_and_test_files_exist() -> None:
    """The parametrized tests below would pass with no files at all."""
    assert RULE_FILES
    assert TEST_FILES


def test_config_is_valid(prometheus_installed: None) -> None:
    promtool("check", "config", str(CONFIG_FILE))


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda path: path.name)
def test_rules_are_valid(prometheus_installed: None, rule_file: Path) -> None:
    promtool("check", "rules", str(rule_file))


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda path: path.name)
def test_rule_unit_tests_pass(prometheus_installed: None, test_file: Path) -> None:
    assert "SUCCESS" in promtool("test", "rules", str(test_file))


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    cases: dict[str, list[list[object]]] = {}
    for test in unit_tests():
        for case in test.get("alert_rule_test", []):
            cases.setdefault(case["alertname"], []).append(case.get("exp_alerts") or [])
    for alert in rules("alert"):
        name = alert["alert"]
        assert any(cases.get(name, [])), f"no test expects {name} to fire"
        assert not all(cases.get(name, [])), f"no test expects {name} not to fire"


def test_every_recording_rule_is_tested() -> None:
    tested = {case["expr"] for test in unit_tests() for case in test.get("promql_expr_test", [])}
    untested = [rule["record"] for rule in rules("record") if rule["record"] not in tested]
    assert not untested


def test_every_alert_has_a_severity_summary_and_description() -> None:
    for alert in rules("alert"):
        assert alert["labels"]["severity"] in SEVERITIES, alert["alert"]
        assert {"summary", "description"} <= set(alert["annotations"]), alert["alert"]


def test_prometheus_loads_and_evaluates_every_rule(prometheus_installed: None, tmp_path: Path) -> None:
    """Prometheus scrapes itself and an exporter address where nothing listens: every rule group
    loads and evaluates without error, and the alert on a target that is down becomes pending."""
    port, exporter = free_port(), f"127.0.0.1:{free_port()}"
    server = PrometheusServer(
        tmp_path / "prometheus",
        {"prometheus": [f"127.0.0.1:{port}"], "lakehouse": [exporter]},
        lakehouse_home=tmp_path,
        port=port,
    )
    started(server)
    try:
        server.wait_for('up{job="prometheus"} == 1')
        groups = server.evaluated_rule_groups()
        expected = {group["name"] for path in RULE_FILES for group in load(path)["groups"]}
        assert {group["name"] for group in groups} == expected
        unhealthy = [
            (rule["name"], rule.get("lastError"))
            for group in groups
            for rule in group["rules"]
            if rule["health"] != "ok"
        ]
        assert not unhealthy
        server.wait_for(f'ALERTS{{alertname="LakehouseScrapeTargetDown", instance="{exporter}"}}')
        [alert] = [alert for alert in server.alerts() if alert["labels"].get("instance") == exporter]
        assert alert["state"] == "pending"
        assert alert["annotations"]["summary"] == f"lakehouse at {exporter} is down"
    finally:
        server.stop()
