"""Spark on the lakehouse's own Iceberg catalog: the session's configuration and the models it computes."""
