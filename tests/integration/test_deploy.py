"""docker-compose.yml and the Dockerfile, proven without a container engine.

The real Compose CLI (built from the Go module proxy by the harness) resolves the file; the
settings, mounted files, images and broker settings it gives each service are those the harness
runs the same servers with; and the commands the containers run start from the project's venv.
No container is started: nothing here can run one.
"""

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from lakehouse.instance import instance_config
from lakehouse.settings import CHECKOUT_ROOT, Profile, Settings
from lakehouse_dev.compose import PROFILES, ComposeError, compose, compose_config
from lakehouse_dev.grafana import CONTAINER_DASHBOARDS_DIR, DASHBOARDS_DIR, PROVISIONING_DIR
from lakehouse_dev.services.kafka import KAFKA_VERSION, KafkaBroker
from lakehouse_dev.services.minio import MINIO_VERSION, http_ok
from lakehouse_dev.services.process import free_port
from lakehouse_dev.services.prometheus import CONFIG_DIR as PROMETHEUS_CONFIG_DIR
from lakehouse_dev.services.prometheus import PROMETHEUS_BINARY, prometheus_version
from lakehouse_dev.services.stack import CREATE_DATABASES, trino_environment
from lakehouse_dev.services.trino import CATALOG_DIR, TRINO_VERSION
from lakehouse_dev.services.trino import ETC_DIR as TRINO_ETC_DIR

BIN = Path(sys.executable).parent
# The compose services the harness runs as servers of its own, by the host name compose gives them.
SERVICE_HOSTS = ("postgres", "minio", "kafka", "trino")
ONE_SHOT = {"lakehouse-init"}
# What differs between a container and a harness server: where the broker listens, and where it keeps its data.
BROKER_HOST_SETTINGS = {"listeners", "advertised.listeners", "controller.quorum.voters", "log.dirs"}
BROKER_HOST_SETTINGS |= {"listener.security.protocol.map"}


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return compose_config()


@pytest.fixture(scope="module")
def services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(config["services"])


def on_loopback(variable: str, value: str) -> str:
    """The value of ``variable`` with each compose service's host name (in an address, or as a
    ``*_HOST`` setting) replaced by the harness's loopback address."""
    hosts = "|".join(SERVICE_HOSTS)
    if variable.endswith("_HOST") and value in SERVICE_HOSTS:
        return "127.0.0.1"
    return re.sub(rf"(?<![\w.-])({hosts})(?=:\d)", "127.0.0.1", value)


def lakehouse_environment(service: dict[str, Any]) -> dict[str, str]:
    return {name: str(value) for name, value in service.get("environment", {}).items() if name.startswith("LAKEHOUSE_")}


def test_compose_accepts_the_file() -> None:
    assert compose("config", "--quiet") == ""


def test_compose_rejects_a_dependency_on_a_service_that_does_not_exist(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  web:\n    image: nginx:1.27.3\n    depends_on: [database]\n")
    with pytest.raises(ComposeError, match=r"depends on undefined service \"?database"):
        compose("config", "--quiet", compose_file=broken)


# LAKEHOUSE_HOME differs (a volume in compose), and so does what the settings put under it.
UNDER_HOME = {"home", "trino_ca_file"}


def test_every_service_gets_the_harness_settings_but_for_host_names(services: dict[str, dict[str, Any]]) -> None:
    harness = Settings(profile=Profile.STACK).model_dump(exclude=UNDER_HOME)
    given = {name: lakehouse_environment(service) for name, service in services.items()}
    with_settings = [name for name, environment in given.items() if environment]
    assert {"lakehouse-init", "code-location", "webserver", "daemon", "trino"} <= set(with_settings)
    for name in with_settings:
        fields = {
            variable.removeprefix("LAKEHOUSE_").lower(): on_loopback(variable, value)
            for variable, value in given[name].items()
        }
        assert Settings(**fields).model_dump(exclude=UNDER_HOME) == harness, name


def test_trino_reads_the_catalog_the_harness_gives_it(services: dict[str, dict[str, Any]]) -> None:
    expected = trino_environment(Settings(profile=Profile.STACK))
    given = {
        variable: on_loopback(variable, value) for variable, value in lakehouse_environment(services["trino"]).items()
    }
    catalog_variables = {variable for variable in expected if variable.startswith("LAKEHOUSE_TRINO_CATALOG_")}
    assert {variable: given[variable] for variable in catalog_variables} == {
        variable: expected[variable] for variable in catalog_variables
    }
    for path in [CATALOG_DIR / "iceberg.properties", *TRINO_ETC_DIR.glob("*.properties")]:
        for variable in re.findall(r"\$\{ENV:(\w+)\}", path.read_text()):
            assert variable in given, f"{path.relative_to(CHECKOUT_ROOT)} reads {variable}, which compose does not set"


def test_every_mounted_file_exists_and_is_the_harness_file(services: dict[str, dict[str, Any]]) -> None:
    mounts = {
        (name, volume["target"]): Path(volume["source"])
        for name, service in services.items()
        for volume in service.get("volumes", [])
        if volume["type"] == "bind"
    }
    assert all(source.exists() for source in mounts.values()), mounts
    assert mounts[("trino", "/etc/trino/catalog")] == CATALOG_DIR
    for path in TRINO_ETC_DIR.iterdir():
        assert mounts[("trino", f"/etc/trino/{path.name}")] == path
    assert mounts[("prometheus", "/etc/prometheus")] == PROMETHEUS_CONFIG_DIR
    assert mounts[("grafana", CONTAINER_DASHBOARDS_DIR)] == DASHBOARDS_DIR
    assert mounts[("grafana", "/etc/grafana/provisioning")] == PROVISIONING_DIR
    assert mounts[("postgres", "/docker-entrypoint-initdb.d/create-databases.sql")] == CREATE_DATABASES


def test_every_image_is_pinned_to_the_version_the_harness_runs(services: dict[str, dict[str, Any]]) -> None:
    images = {name: service["image"] for name, service in services.items()}
    for name, image in images.items():
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest", f"{name}: {image} is not pinned"
    assert images["trino"] == f"trinodb/trino:{TRINO_VERSION}"
    assert images["kafka"] == f"apache/kafka:{KAFKA_VERSION}"
    dockerfile = (CHECKOUT_ROOT / "Dockerfile").read_text()
    assert f"ARG MINIO_VERSION={MINIO_VERSION}\n" in dockerfile
    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if installed:
        assert images["postgres"].startswith(f"postgres:{installed[-1].parent.name}.")
    if PROMETHEUS_BINARY.exists():
        assert images["prometheus"] == f"prom/prometheus:v{prometheus_version()}"
    arguments = dict(re.findall(r"^ARG (\w+)=(\S+)$", dockerfile, re.MULTILINE))
    stages = set(re.findall(r"^FROM \S+ AS (\S+)$", dockerfile, re.MULTILINE))
    for line in set(re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)) - stages:
        image = re.sub(r"\$\{(\w+)\}", lambda argument: arguments[argument[1]], line)
        assert ":" in image and not image.endswith(":latest"), f"Dockerfile: FROM {line} is not pinned"


def test_long_running_services_are_healthchecked_and_awaited_on_loopback(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if name not in ONE_SHOT:
            assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        for dependency, condition in service.get("depends_on", {}).items():
            expected = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert condition["condition"] == expected, f"{name} -> {dependency}"
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", f"{name} publishes {port} beyond loopback"
        for volume in service.get("volumes", []):
            assert volume["type"] in {"bind", "volume"}, f"{name}: {volume}"
        assert set(service.get("profiles", [])) <= set(PROFILES), f"{name}: {service['profiles']}"


def test_the_broker_runs_with_the_harness_settings(services: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    environment = services["kafka"]["environment"]
    # The image's own mapping: KAFKA_ prefix off, lower case, `_` to `.`.
    given = {
        name.removeprefix("KAFKA_").lower().replace("_", "."): str(value)
        for name, value in environment.items()
        if name.startswith("KAFKA_")
    }
    harness = KafkaBroker(tmp_path).settings()
    assert {key: value for key, value in given.items() if key not in BROKER_HOST_SETTINGS} == {
        key: value for key, value in harness.items() if key not in BROKER_HOST_SETTINGS
    }


def test_the_containers_dagster_instance_is_the_one_the_harness_writes() -> None:
    settings = Settings(profile=Profile.STACK)
    instance = yaml.safe_load((CHECKOUT_ROOT / "docker" / "dagster.yaml").read_text())
    assert instance["storage"]["postgres"]["postgres_url"] == {"env": "LAKEHOUSE_DAGSTER_STORAGE_URL"}
    instance["storage"]["postgres"]["postgres_url"] = settings.dagster_storage_url
    assert instance == instance_config(settings)


def test_the_image_keeps_local_state_out_and_builds_what_compose_runs(services: dict[str, dict[str, Any]]) -> None:
    ignored = (CHECKOUT_ROOT / ".dockerignore").read_text().split()
    assert {".lakehouse", ".cache", ".venv"} <= set(ignored)
    dockerfile = (CHECKOUT_ROOT / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, re.MULTILINE):
        for path in [word for word in source.split() if not word.startswith("--")]:
            assert (CHECKOUT_ROOT / path).exists(), f"Dockerfile copies {path}, which does not exist"
    uv = re.compile(r'"uv==([\d.]+)"')
    assert uv.findall(dockerfile) == uv.findall((CHECKOUT_ROOT / "Makefile").read_text())
    [default_command] = re.findall(r"^CMD (\[.+\])$", dockerfile, re.MULTILINE)
    assert yaml.safe_load(default_command) == services["code-location"]["command"]
    assert "USER lakehouse" in dockerfile


def test_the_dbt_manifest_prepares_for_the_stack_as_the_image_does(tmp_path: Path) -> None:
    dockerfile = (CHECKOUT_ROOT / "Dockerfile").read_text()
    [parse] = re.findall(r"^RUN (LAKEHOUSE_DBT_TARGET=trino dbt parse .+)$", dockerfile, re.MULTILINE)
    variable, command = parse.split(" ", 1)
    name, value = variable.split("=")
    arguments = [str(BIN / "dbt"), *command.split()[1:], "--target-path", str(tmp_path / "target")]
    subprocess.run(arguments, cwd=CHECKOUT_ROOT, env={**os.environ, name: value}, check=True, capture_output=True)
    assert (tmp_path / "target" / "manifest.json").exists()


def readme_services() -> set[str]:
    deploy = (CHECKOUT_ROOT / "README.md").read_text().split("\n## Deploy\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([\w-]+)` \|", deploy, re.MULTILINE))


def test_every_service_the_readme_names_exists(services: dict[str, dict[str, Any]]) -> None:
    named = readme_services()
    assert named and named <= set(services)


@pytest.fixture
def dagster_home(tmp_path: Path) -> Path:
    home = tmp_path / "container-dagster-home"
    home.mkdir()
    return home


def started(command: list[str], home: Path, log: Path) -> subprocess.Popen[bytes]:
    environment = {**os.environ, "DAGSTER_HOME": str(home), "PATH": f"{BIN}:{os.environ['PATH']}"}
    output = log.open("wb")
    return subprocess.Popen(command, env=environment, stdout=output, stderr=subprocess.STDOUT, cwd=CHECKOUT_ROOT)


def eventually(check: Callable[[], bool], timeout: float = 90.0) -> bool:
    """Whether ``check()`` comes true within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(1)
    return False


def succeeds(command: list[str], home: Path) -> Callable[[], bool]:
    return lambda: (
        subprocess.run(command, env={**os.environ, "DAGSTER_HOME": str(home)}, capture_output=True).returncode == 0
    )


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    running: list[subprocess.Popen[bytes]] = []
    yield running
    for process in reversed(running):
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_containers_commands_start_from_the_project(
    services: dict[str, dict[str, Any]], dagster_home: Path, processes: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    grpc_port, web_port = free_port(), free_port()
    workspace = yaml.safe_load((CHECKOUT_ROOT / "docker" / "workspace.yaml").read_text())
    [location] = workspace["load_from"]
    location["grpc_server"] |= {"host": "127.0.0.1", "port": grpc_port}
    (tmp_path / "workspace.yaml").write_text(yaml.safe_dump(workspace))

    def command(service: str) -> list[str]:
        """The service's command, on this machine's ports and files."""
        replaced = {"4000": str(grpc_port), "3000": str(web_port), "0.0.0.0": "127.0.0.1"}
        replaced["/opt/dagster/home/workspace.yaml"] = str(tmp_path / "workspace.yaml")
        return [replaced.get(word, word) for word in services[service]["command"]]

    processes.append(started(command("code-location"), dagster_home, tmp_path / "grpc.log"))
    grpc_health = [str(BIN / "dagster"), "api", "grpc-health-check", "-p", str(grpc_port)]
    assert eventually(succeeds(grpc_health, dagster_home)), (tmp_path / "grpc.log").read_text()[-3000:]
    processes.append(started(command("webserver"), dagster_home, tmp_path / "webserver.log"))
    server_info = f"http://127.0.0.1:{web_port}/server_info"
    assert eventually(lambda: http_ok(server_info)), (tmp_path / "webserver.log").read_text()[-3000:]
    processes.append(started(command("daemon"), dagster_home, tmp_path / "daemon.log"))
    liveness = [str(BIN / "dagster-daemon"), "liveness-check"]
    assert eventually(succeeds(liveness, dagster_home)), (tmp_path / "daemon.log").read_text()[-3000:]
    assert shutil.which(services["code-location"]["command"][0], path=str(BIN))


def test_the_admin_logins_lakehouse_init_uses_are_the_servers_own(services: dict[str, dict[str, Any]]) -> None:
    """PostgreSQL's superuser and MinIO's root, as the servers are started and as `lakehouse init` logs in."""
    init = lakehouse_environment(services["lakehouse-init"])
    admin = sa.make_url(init["LAKEHOUSE_POSTGRES_ADMIN_URL"])
    postgres = services["postgres"]["environment"]
    assert (postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"]) == (admin.username, admin.password)
    minio = services["minio"]["environment"]
    assert (minio["MINIO_ROOT_USER"], minio["MINIO_ROOT_PASSWORD"]) == (
        init["LAKEHOUSE_S3_ADMIN_ACCESS_KEY"],
        init["LAKEHOUSE_S3_ADMIN_SECRET_KEY"],
    )


def test_only_lakehouse_init_gets_the_admin_logins(services: dict[str, dict[str, Any]]) -> None:
    admin = {"LAKEHOUSE_S3_ADMIN_ACCESS_KEY", "LAKEHOUSE_S3_ADMIN_SECRET_KEY", "LAKEHOUSE_POSTGRES_ADMIN_URL"}
    given = {name for name, service in services.items() if admin & set(lakehouse_environment(service))}
    assert given == {"lakehouse-init"}
