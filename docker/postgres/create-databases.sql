-- The stack's databases: the Northwind source, the Iceberg catalog and Dagster's storage.
-- docker-compose runs this file when the PostgreSQL volume is new; the services harness creates
-- the databases it names (lakehouse_dev/services/stack.py). `lakehouse init` then gives each its
-- own login (lakehouse/security/database_roles.py).
CREATE DATABASE northwind;
CREATE DATABASE iceberg;
CREATE DATABASE dagster;
