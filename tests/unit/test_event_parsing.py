"""Kafka messages parsed into rows that fit bronze.sales_events, and those that do not."""

import json

import pyarrow.compute as pc
import pytest

from lakehouse.ingest.events.parsing import Messages, parse_messages
from lakehouse.ingest.rows import declared_schema
from lakehouse_dev.generators.sales_events import EventSimulator
from tests.declarations import SALES_EVENTS


@pytest.mark.bad_input
def test_a_chunk_with_a_bad_message_gives_the_same_rows_as_one_without() -> None:
    target = declared_schema(SALES_EVENTS)
    values = [json.dumps(event).encode() for _, event in zip(range(5000), EventSimulator(9).events(), strict=False)]
    clean = Messages([0] * 5000, list(range(5000)), [None] * 5000, list(values))
    tainted = Messages([0] * 5000, list(range(5000)), [None] * 5000, [*values[:2500], b"oops", *values[2501:]])
    fast, careful = parse_messages(clean, target), parse_messages(tainted, target)
    assert fast.rejected.num_rows == 0
    assert careful.rejected["_kafka_offset"].to_pylist() == [2500]
    assert careful.valid.equals(fast.valid.filter(pc.not_equal(fast.valid["_kafka_offset"], 2500)))
