"""The formats of the files partners deliver to the landing location."""

from enum import StrEnum


class FileFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"
    PARQUET = "parquet"
