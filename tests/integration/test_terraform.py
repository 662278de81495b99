"""terraform/, on the machine's Terraform with providers built from the Go module proxy.

Every module is formatted, initialises from the local mirror and validates; the cloud host plans
without credentials (a plan of new resources calls no API) and its cloud-init renders to a valid
cloud-config; the Kafka module would create exactly the topics the table declarations name.
Applying the cloud host needs a Hetzner account: not exercised. The Kafka module is applied to
the real broker in `tests/stack/test_terraform_kafka.py`.
"""

import json
import shutil
from pathlib import Path

import pytest
import yaml

from lakehouse.iceberg.declarations import topic_declarations
from lakehouse.settings import CHECKOUT_ROOT
from lakehouse_dev.terraform import TERRAFORM_DIR, terraform

MODULES = ("kafka", "hetzner")
HETZNER_VARIABLES = {
    # A token of the right shape: a plan of new resources never sends it anywhere.
    "hcloud_token": "0" * 64,
    "ssh_public_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperatorKeyForThePlanOnly operator@example"],
    "repository": "https://github.com/example/lakehouse.git",
}


def initialised(module: str, directory: Path) -> Path:
    """A copy of ``module`` in ``directory``, initialised: the lock file and state stay out of the checkout."""
    copy = directory / module
    shutil.copytree(TERRAFORM_DIR / module, copy)
    result = terraform("init", "-input=false", "-no-color", cwd=copy)
    assert result.returncode == 0, result.stderr
    return copy


def variables(values: dict[str, object]) -> list[str]:
    """``-var`` options: Terraform takes a string as it is, and parses anything else as HCL (JSON is HCL)."""
    written = {name: value if isinstance(value, str) else json.dumps(value) for name, value in values.items()}
    return [option for name, value in written.items() for option in ("-var", f"{name}={value}")]


def console(module: Path, expression: str, values: dict[str, object]) -> object:
    result = terraform("console", *variables(values), cwd=module, input_text=f"jsonencode({expression})\n")
    assert result.returncode == 0, result.stderr
    return json.loads(json.loads(result.stdout))


def test_every_module_is_formatted() -> None:
    result = terraform("fmt", "-check", "-recursive", "-diff", "-no-color", cwd=TERRAFORM_DIR)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("module", MODULES)
def test_every_module_validates(module: str, tmp_path: Path) -> None:
    result = terraform("validate", "-no-color", cwd=initialised(module, tmp_path))
    assert result.returncode == 0, result.stderr


def test_the_cloud_host_plans_without_credentials(tmp_path: Path) -> None:
    module = initialised("hetzner", tmp_path)
    result = terraform("plan", "-input=false", "-no-color", *variables(HETZNER_VARIABLES), cwd=module)
    assert result.returncode == 0, result.stderr
    assert "Plan: 5 to add, 0 to change, 0 to destroy." in result.stdout
    for resource in ("hcloud_server.lakehouse", "hcloud_firewall.lakehouse", "hcloud_volume.docker_data"):
        assert f"{resource} will be created" in result.stdout


def test_the_cloud_init_installs_docker_and_starts_the_compose_stack(tmp_path: Path) -> None:
    module = initialised("hetzner", tmp_path)
    rendered = console(
        module,
        'templatefile("cloud-init.yaml.tftpl", {volume_device = "/dev/sdb", repository = "https://example.org/l.git",'
        ' revision = "v1", compose_profiles = ["notebooks"]})',
        HETZNER_VARIABLES,
    )
    assert isinstance(rendered, str) and rendered.startswith("#cloud-config\n")
    config = yaml.safe_load(rendered)
    assert {"docker.io", "docker-compose-v2"} <= set(config["packages"])
    [unit] = [entry["content"] for entry in config["write_files"] if entry["path"].endswith("lakehouse.service")]
    assert "ExecStart=/usr/bin/docker compose --profile notebooks up -d --build --wait" in unit
    assert ["git", "clone", "https://example.org/l.git", "/opt/lakehouse"] in config["runcmd"]
    assert ["/dev/sdb", "/var/lib/docker", "ext4", "defaults,nofail,discard", "0", "2"] in config["mounts"]


def test_the_kafka_module_creates_the_topics_the_declarations_name(tmp_path: Path) -> None:
    module = initialised("kafka", tmp_path)
    values = {"bootstrap_servers": ["127.0.0.1:9092"], "declarations_dir": str(CHECKOUT_ROOT / "iceberg")}
    topics = console(module, "{for name, topic in local.topics : name => topic.config}", values)
    partitions = console(module, "{for name, topic in local.topics : name => topic.partitions}", values)
    declared = {declaration.topic for declaration in topic_declarations()}
    assert partitions == {topic.name: topic.partitions for topic in declared}
    assert topics == {
        topic.name: {
            "retention.ms": str(int(topic.retention.total_seconds() * 1000)),
            "cleanup.policy": topic.cleanup_policy,
        }
        for topic in declared
    }
