"""The Kafka module of terraform/ on the real broker: it creates the declared topic, plans no
change afterwards, and destroys it; Kafka's admin API is the judge."""

import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import ConfigResource

from lakehouse.iceberg.declarations import TopicDeclaration, load_declaration
from lakehouse.settings import CHECKOUT_ROOT
from lakehouse_dev.services.kafka import KafkaBroker
from lakehouse_dev.terraform import terraform
from tests.integration.test_terraform import initialised, variables

pytestmark = pytest.mark.stack


@pytest.fixture
def declarations(tmp_path: Path) -> Path:
    """The events declaration, with a topic name of this test's own: the session's broker is shared."""
    folder = tmp_path / "iceberg"
    folder.mkdir()
    text = (CHECKOUT_ROOT / "iceberg" / "sales_events.yaml").read_text()
    own = text.replace("topic: {name: sales-events,", f"topic: {{name: sales-events-{uuid.uuid4().hex[:8]},")
    assert own != text
    (folder / "sales_events.yaml").write_text(own)
    return folder


def topic_config(kafka: KafkaBroker, name: str) -> dict[str, str]:
    admin = kafka.admin()  # kept until the result is in: a collected client abandons its requests
    [described] = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, name)]).values()
    return {key: entry.value for key, entry in described.result(timeout=30).items()}


def test_the_kafka_module_applies_replans_to_nothing_and_destroys(
    kafka: KafkaBroker, declarations: Path, tmp_path: Path
) -> None:
    declaration = load_declaration(declarations / "sales_events.yaml")
    assert isinstance(declaration, TopicDeclaration)
    topic = declaration.topic
    module = initialised("kafka", tmp_path)
    values = variables({"bootstrap_servers": [kafka.bootstrap_servers], "declarations_dir": str(declarations)})

    applied = terraform("apply", "-auto-approve", "-input=false", "-no-color", *values, cwd=module)
    assert applied.returncode == 0, applied.stderr
    metadata = kafka.admin().list_topics(topic.name, timeout=30).topics[topic.name]
    assert metadata.error is None and len(metadata.partitions) == topic.partitions
    config = topic_config(kafka, topic.name)
    assert config["retention.ms"] == str(int(topic.retention.total_seconds() * 1000))
    assert config["cleanup.policy"] == topic.cleanup_policy

    # 0: no changes (2 would be changes to make).
    planned = terraform("plan", "-detailed-exitcode", "-input=false", "-no-color", *values, cwd=module)
    assert planned.returncode == 0, planned.stdout + planned.stderr

    destroyed = terraform("destroy", "-auto-approve", "-input=false", "-no-color", *values, cwd=module)
    assert destroyed.returncode == 0, destroyed.stderr
    assert topic.name not in kafka.admin().list_topics(timeout=30).topics
