"""Database extraction: the Northwind OLTP tables into bronze, with checks run on each load."""
