"""The Kafka cluster the event topics are read from."""

import dagster as dg
from pydantic import Field

from lakehouse.settings import Settings, load_settings


class KafkaResource(dg.ConfigurableResource):
    """The Kafka cluster the event topics are read from."""

    bootstrap_servers: str = Field(description="host:port[,host:port...]; empty when Kafka is off")


def kafka_resource(settings: Settings) -> KafkaResource:
    return KafkaResource(bootstrap_servers=settings.kafka_bootstrap_servers)


@dg.definitions
def event_resources() -> dg.Definitions:
    return dg.Definitions(resources={"kafka": kafka_resource(load_settings())})
