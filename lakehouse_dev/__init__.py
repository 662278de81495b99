"""Development and test tools, never imported by the code Dagster runs.

`services`: the stack's servers (PostgreSQL, MinIO, Kafka, Trino) run without Docker, for the
tests, the benches and `lakehouse services ...`. `generators`: the demo data, the Northwind OLTP
database and the partner files and events that feed the landing and Kafka sources.
"""
