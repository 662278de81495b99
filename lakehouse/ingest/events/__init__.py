"""Kafka topics into their bronze tables, exactly once: the offsets travel in the Iceberg commit.

`offsets` decides which offsets a load reads and how they are recorded; `client` talks to Kafka;
`parsing` turns message values into rows of the declared columns, or quarantined messages;
`load` reads, parses and commits a batch; `probe` is the sensor's cheap look at what is new.
"""
