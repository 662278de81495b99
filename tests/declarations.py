"""The declarations the tests name: the partner landing files and the Kafka sales events."""

from lakehouse.iceberg.declarations import landing_declarations, topic_declarations

[MARKETPLACE] = [declaration for declaration in landing_declarations() if declaration.table == "marketplace_orders"]
[SALES_EVENTS] = [declaration for declaration in topic_declarations() if declaration.table == "sales_events"]
