"""Sales events as a Northwind shop makes them, and a producer that sends them to a Kafka topic, bad
messages among them when asked."""

import itertools
import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from confluent_kafka import KafkaError, Producer

from lakehouse.ingest.events.client import KafkaUnavailable, create_topic
from lakehouse_dev.generators.northwind import reference
from lakehouse_dev.generators.northwind.generator import customers, parse_scale, products

FIRST_ORDER_ID = 20_000_000
# The seed `lakehouse generate` builds the Northwind database with by default: the simulated events
# name its customers, in their countries, and its products, at their prices.
NORTHWIND_SEED = 42


class EventSimulator:
    """Sales as they happen in a Northwind shop: orders of one to five lines, by the customers of the
    classic-size database (now and then a guest without an account), at the products' list prices.
    The same seed gives the same events, but for their times, which are the time each event is made."""

    GUEST_SHARE = 0.05
    ORDERS_PER_SEED = 1_000_000

    def __init__(self, seed: int, northwind_seed: int = NORTHWIND_SEED) -> None:
        self.rng = random.Random(seed)
        known = customers(parse_scale("classic"), northwind_seed)
        self.customers = list(
            zip(known.table["customer_id"].to_pylist(), known.standard_country.to_pylist(), strict=True)
        )
        self.countries = [market.country for market in reference.MARKETS]
        self.prices = [round(price, 2) for price in products(northwind_seed)["unit_price"].to_pylist()]
        # Each seed has an order number range of its own, so two simulators do not share orders.
        self.next_order_id = FIRST_ORDER_ID + (seed % 1000) * self.ORDERS_PER_SEED

    def events(self) -> Iterator[dict[str, object]]:
        rng = self.rng
        discount_weights = list(itertools.accumulate(reference.DISCOUNT_WEIGHTS))
        while True:
            order_id = self.next_order_id
            self.next_order_id += 1
            if rng.random() < self.GUEST_SHARE:
                customer_id, country = None, rng.choice(self.countries)
            else:
                customer_id, country = rng.choice(self.customers)
            # The lines of one order are sold at the same moment.
            event_time = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            for product_id in rng.sample(range(1, len(self.prices) + 1), rng.randint(1, 5)):
                digits = f"{rng.getrandbits(128):032x}"
                yield {
                    "event_id": f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}",
                    "event_time": event_time,
                    "order_id": order_id,
                    "customer_id": customer_id,
                    "country": country,
                    "product_id": product_id,
                    "quantity": rng.randint(1, 20),
                    "unit_price": self.prices[product_id - 1],
                    "discount": rng.choices(reference.DISCOUNTS, cum_weights=discount_weights)[0],
                }


def _json(event: object) -> bytes:
    return json.dumps(event).encode()


# One of each kind of bad message, made from a good event, for tests and demonstrations.
POISON: tuple[Callable[[dict[str, object]], bytes | None], ...] = (
    lambda event: _json(event)[:-7],  # cut short: not JSON
    lambda event: _json([event]),  # JSON, but an array
    lambda event: _json(event | {"quantity": "many"}),  # a value of the wrong type
    lambda event: _json({k: v for k, v in event.items() if k != "event_id"}),  # a required field missing
    lambda event: None,  # no value at all (a tombstone)
)


def produce_events(
    bootstrap_servers: str,
    topic: str,
    rate: float | None,
    count: int,
    seed: int,
    poison: int = 0,
    partitions: int = 3,
) -> int:
    """Produce ``count`` sales events to ``topic`` (created with ``partitions`` if missing), keyed by
    order, at about ``rate`` per second or as fast as possible; ``poison`` bad messages are spread
    among them. Returns the number of messages delivered."""
    create_topic(bootstrap_servers, topic, partitions)
    failures: list[KafkaError] = []
    producer = Producer(
        {
            "bootstrap.servers": bootstrap_servers,
            "enable.idempotence": True,  # a retried send is not written twice
            "linger.ms": 20,
            "compression.type": "lz4",
            "logger": logging.getLogger("lakehouse.kafka"),
        }
    )
    total = count + poison
    poisoned = {(k + 1) * total // (poison + 1): k for k in range(poison)}
    started = time.monotonic()
    for index, event in zip(range(total), EventSimulator(seed).events(), strict=False):
        value = POISON[poisoned[index] % len(POISON)](event) if index in poisoned else _json(event)
        while True:
            try:
                producer.produce(
                    topic,
                    key=str(event["order_id"]).encode(),
                    value=value,
                    on_delivery=lambda error, _message: failures.append(error) if error else None,
                )
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.1)
        producer.poll(0)
        if rate and (ahead := started + (index + 1) / rate - time.monotonic()) > 0:
            time.sleep(ahead)
    undelivered = producer.flush(60)
    if undelivered or failures:
        reason = failures[0].str() if failures else "not delivered within 60 s"
        raise KafkaUnavailable(
            f"{undelivered + len(failures)} of {total} message(s) to topic {topic!r} at {bootstrap_servers} "
            f"failed: {reason}"
        )
    return total
