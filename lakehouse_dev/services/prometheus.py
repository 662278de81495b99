"""Prometheus and promtool from the Debian package, on loopback, with a data directory of its own.

No Docker: the binaries come from `apt-get install prometheus` (2.42 on Debian 12). The server
runs the project's own `prometheus/prometheus.yml` and rules, the files docker-compose mounts,
with each scrape job's targets replaced by the ones a test gives.
"""

import json
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from lakehouse.settings import CHECKOUT_ROOT
from lakehouse_dev.services.debian import debian_programs
from lakehouse_dev.services.minio import http_ok
from lakehouse_dev.services.process import (
    ProcessServer,
    ServerProcess,
    ServiceUnavailable,
    free_port,
    run_checked,
)

PROMETHEUS_BINARY = Path("/usr/bin/prometheus")
PROMTOOL_BINARY = Path("/usr/bin/promtool")
CONFIG_DIR = CHECKOUT_ROOT / "prometheus"
CONFIG_FILE = CONFIG_DIR / "prometheus.yml"
# LAKEHOUSE_HOME in docker-compose (.env.example), where prometheus.yml finds the stack's security files.
COMPOSE_LAKEHOUSE_HOME = "/var/lib/lakehouse"
READY_TIMEOUT_S = 30.0
API_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.5

T = TypeVar("T")


class PrometheusApiError(Exception):
    """Prometheus answered an API call with an error: a bad expression, or not the result asked for."""


class PromtoolError(Exception):
    """promtool found the configuration, rules or rule tests wrong; the message holds its report."""


def install_prometheus() -> Path:
    """The Prometheus server binary, and promtool beside it, from Debian's package."""
    return debian_programs("prometheus", PROMETHEUS_BINARY, PROMTOOL_BINARY)


def prometheus_version() -> str:
    """The installed server's version as released (`2.42.0`), without Debian's suffix."""
    banner = run_checked([str(install_prometheus()), "--version"], "asking Prometheus its version")
    found = re.match(r"prometheus, version (\d+\.\d+\.\d+)", banner)
    if found is None:
        raise ServiceUnavailable(f"Prometheus printed no version it is known by: {banner[:200]!r}")
    return found[1]


def promtool(*arguments: str) -> str:
    """promtool's output for ``arguments``; PromtoolError with its report when it finds a fault."""
    install_prometheus()
    command = [str(PROMTOOL_BINARY), *arguments]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise PromtoolError(f"{' '.join(command)} failed:\n{completed.stdout}{completed.stderr}")
    return completed.stdout


def _rehomed(job: dict[str, Any], lakehouse_home: Path) -> dict[str, Any]:
    """``job`` with the files it reads from compose's LAKEHOUSE_HOME read from ``lakehouse_home``."""
    text = yaml.safe_dump(job).replace(f"{COMPOSE_LAKEHOUSE_HOME}/", f"{lakehouse_home}/")
    rehomed: dict[str, Any] = yaml.safe_load(text)
    return rehomed


def render_config(
    targets: Mapping[str, Sequence[str]], scrape_interval: str, evaluation_interval: str, lakehouse_home: Path
) -> dict[str, Any]:
    """`prometheus/prometheus.yml` with only the jobs in ``targets``, each scraping the targets given.

    Everything else about a job (its metrics path, its authentication) is kept, so the harness
    scrapes as the compose stack does, with the security files of the stack in ``lakehouse_home``.
    """
    config: dict[str, Any] = yaml.safe_load(CONFIG_FILE.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    unknown = sorted(set(targets) - set(jobs))
    if unknown:
        raise ValueError(f"no scrape job {', '.join(unknown)} in {CONFIG_FILE}; its jobs: {', '.join(jobs)}")
    config["global"] = {
        **config.get("global", {}),
        "scrape_interval": scrape_interval,
        # A timeout longer than the interval is a configuration error.
        "scrape_timeout": scrape_interval,
        "evaluation_interval": evaluation_interval,
    }
    # The rendered file lives in the data directory, so the rule files' paths must not be relative to it.
    config["rule_files"] = [str(CONFIG_DIR / pattern) for pattern in config.get("rule_files", [])]
    config["scrape_configs"] = [
        {**_rehomed(job, lakehouse_home), "static_configs": [{"targets": list(targets[name])}]}
        for name, job in jobs.items()
        if name in targets
    ]
    return config


def _poll(probe: Callable[[], T], predicate: Callable[[T], bool], timeout_s: float, what: str) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        found = probe()
        if predicate(found):
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not so after {timeout_s:.0f}s; last seen: {found}")
        time.sleep(POLL_INTERVAL_S)


def _evaluated(groups: list[dict[str, Any]]) -> bool:
    # A rule's health is "unknown" until its first evaluation.
    return all(rule["health"] != "unknown" for group in groups for rule in group["rules"])


@dataclass
class PrometheusServer(ProcessServer):
    """One Prometheus with its TSDB in ``data_dir``, scraping ``targets`` (scrape job -> host:port list)
    of the stack whose LAKEHOUSE_HOME is ``lakehouse_home``."""

    data_dir: Path
    targets: Mapping[str, Sequence[str]]
    lakehouse_home: Path
    port: int = field(default_factory=free_port)
    scrape_interval: str = "1s"
    evaluation_interval: str = "1s"
    process: ServerProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def config_file(self) -> Path:
        return self.data_dir / "prometheus.yml"

    def start(self) -> "PrometheusServer":
        binary = install_prometheus()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = render_config(self.targets, self.scrape_interval, self.evaluation_interval, self.lakehouse_home)
        self.config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        command = [
            str(binary),
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.data_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        self.process = ServerProcess.spawn("Prometheus", command, self.log_file, cwd=self.data_dir)
        self.process.wait_ready(lambda: http_ok(f"{self.url}/-/ready"), READY_TIMEOUT_S)
        return self

    def _api(self, path: str, **parameters: str) -> Any:
        """The ``data`` of an HTTP API answer, which carries its error in the body, also on a 4xx."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(parameters)}"
        # No proxies: a developer's HTTP_PROXY must not intercept a loopback call.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(url, timeout=API_TIMEOUT_S) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as error:
            answer = json.load(error)
        if answer.get("status") != "success":
            raise PrometheusApiError(f"{path} {parameters}: {answer.get('errorType')}: {answer.get('error')}")
        return answer["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector ``expr`` evaluates to now: ``{"metric": labels, "value": [time, "value"]}`` per series."""
        data = self._api("query", query=expr)
        if data["resultType"] != "vector":
            raise PrometheusApiError(f"{expr!r} is a {data['resultType']}, not an instant vector")
        result: list[dict[str, Any]] = data["result"]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        """Every pending and firing alert: its labels, annotations, state and value."""
        alerts: list[dict[str, Any]] = self._api("alerts")["alerts"]
        return alerts

    def rule_groups(self) -> list[dict[str, Any]]:
        """Every rule group loaded, each rule with its health and last error."""
        groups: list[dict[str, Any]] = self._api("rules")["groups"]
        return groups

    def wait_for(
        self, expr: str, predicate: Callable[[list[dict[str, Any]]], bool] = bool, timeout_s: float = 30.0
    ) -> list[dict[str, Any]]:
        """``expr``'s result once ``predicate`` holds for it (by default, once it is not empty)."""
        return _poll(lambda: self.query(expr), predicate, timeout_s, repr(expr))

    def evaluated_rule_groups(self, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """The rule groups once every rule in them has been evaluated at least once."""
        return _poll(self.rule_groups, _evaluated, timeout_s, "every rule evaluated")
