"""Demo data: a Northwind database, and the landing files and Kafka events that come on top of it."""
