"""Kafka events: topics into bronze in bounded micro-batches, exactly once, with quarantine."""
