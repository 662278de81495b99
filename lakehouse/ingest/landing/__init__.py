"""Landing files into their bronze Iceberg table, each file exactly once.

`store` is where partners deliver files (a directory or an S3 bucket); `tracking` knows which
files a table took; `readers` read CSV, JSON Lines and Parquet as loosely typed rows; `load`
splits them by the declared columns, quarantines what does not fit and commits the rest.
"""
