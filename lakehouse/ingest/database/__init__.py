"""Tables of the OLTP source database into bronze: `source` reads the database, `extract` loads the tables."""
