"""Spark: the gold models that outgrow one machine, computed by PySpark on the same Iceberg catalog."""
