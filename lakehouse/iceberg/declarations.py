"""Bronze table declarations: one YAML file per table in the checkout's `iceberg/` folder.

A declaration names where its rows come from, the key, the columns with their Iceberg types, the
partitioning, the sort order and the table properties. Bronze assets and checks are generated
from these files. Rows come from one of three kinds of source, named by the file's top-level key:

- ``source``: a table of the OLTP database, loaded whole, incrementally on a cursor column, or
  by change data capture from PostgreSQL's log (``cdc``), per kind of source database;
- ``landing``: a dataset of files delivered to the landing location (CSV, JSON Lines, Parquet);
- ``topic``: a Kafka topic of JSON messages.
"""

import re
from datetime import timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table.sorting import SortField, SortOrder
from pyiceberg.transforms import (
    BucketTransform,
    DayTransform,
    IdentityTransform,
    MonthTransform,
    Transform,
    YearTransform,
)
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    NestedField,
    PrimitiveType,
    StringType,
    TimestampType,
    TimestamptzType,
)

# Its own module, for the command line to name the formats without importing pyiceberg.
from lakehouse.iceberg.formats import FileFormat as FileFormat
from lakehouse.settings import CHECKOUT_ROOT

DECLARATIONS_DIR = CHECKOUT_ROOT / "iceberg"
FIRST_PARTITION_FIELD_ID = 1000

PRIMITIVE_TYPES: dict[str, PrimitiveType] = {
    "boolean": BooleanType(),
    "int": IntegerType(),
    "long": LongType(),
    "float": FloatType(),
    "double": DoubleType(),
    "date": DateType(),
    "timestamp": TimestampType(),
    "timestamptz": TimestamptzType(),
    "string": StringType(),
    "binary": BinaryType(),
}
# Every bronze row also records when it was loaded and where from.
INGESTED_AT = "_ingested_at"
SOURCE = "_source"
SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"
DELIVERED_AT = "_delivered_at"
KAFKA_PARTITION = "_kafka_partition"
KAFKA_OFFSET = "_kafka_offset"
OPERATION = "_operation"
COMMIT_LSN = "_commit_lsn"
COMMITTED_AT = "_committed_at"
CHANGE_SEQUENCE = "_change_sequence"
LineageColumns = tuple[tuple[str, PrimitiveType, str], ...]
LINEAGE_COLUMNS: LineageColumns = (
    (INGESTED_AT, TimestamptzType(), "when the load that wrote this row started"),
    (SOURCE, StringType(), "the source database and table, landing dataset or Kafka topic the row came from"),
)
CHANGE_COLUMNS: LineageColumns = (
    (OPERATION, StringType(), "snapshot, insert, update or delete: what made this version of the row (change capture)"),
    (COMMIT_LSN, LongType(), "the source's log position of the commit that made this version (change capture)"),
    (COMMITTED_AT, TimestamptzType(), "when the source committed this version (change capture)"),
    (CHANGE_SEQUENCE, LongType(), "the change's place among its transaction's changes (change capture)"),
)
RESERVED_COLUMNS = {INGESTED_AT, SOURCE, SOURCE_FILE, SOURCE_ROW, DELIVERED_AT, KAFKA_PARTITION, KAFKA_OFFSET} | {
    name for name, _, _ in CHANGE_COLUMNS
}
DECIMAL = re.compile(r"decimal\((\d+),\s*(\d+)\)")
DURATION = re.compile(r"(\d+)\s*([smhd])")
DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
SIZE = re.compile(r"(\d+)\s*(B|KiB|MiB|GiB)")
SIZE_UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}
BUCKET = re.compile(r"bucket\[(\d+)\]")


class DeclarationError(Exception):
    """A table declaration file is missing, unreadable or inconsistent."""


class LoadMode(StrEnum):
    FULL = "full"
    INCREMENTAL = "incremental"
    CDC = "cdc"


class SourceKind(StrEnum):
    """The databases a source table can be read from, as SQLAlchemy names their backends."""

    POSTGRESQL = "postgresql"
    SQLITE = "sqlite"


# What each kind of source database can do: SQLite keeps no log of its changes.
LOAD_MODES: dict[SourceKind, tuple[LoadMode, ...]] = {
    SourceKind.POSTGRESQL: (LoadMode.FULL, LoadMode.INCREMENTAL, LoadMode.CDC),
    SourceKind.SQLITE: (LoadMode.FULL, LoadMode.INCREMENTAL),
}


def parse_type(text: str) -> PrimitiveType:
    if text in PRIMITIVE_TYPES:
        return PRIMITIVE_TYPES[text]
    if match := DECIMAL.fullmatch(text):
        return DecimalType(int(match[1]), int(match[2]))
    raise ValueError(f"unknown Iceberg type {text!r}; expected one of {', '.join(PRIMITIVE_TYPES)} or decimal(p,s)")


def parse_transform(text: str) -> Transform[Any, Any]:
    named: dict[str, Transform[Any, Any]] = {
        "identity": IdentityTransform(),
        "year": YearTransform(),
        "month": MonthTransform(),
        "day": DayTransform(),
    }
    if text in named:
        return named[text]
    if match := BUCKET.fullmatch(text):
        return BucketTransform(int(match[1]))
    raise ValueError(f"unknown partition transform {text!r}; expected {', '.join(named)} or bucket[N]")


def parse_duration(value: object) -> object:
    """``7d``, ``12h``, ``30m``, ``45s`` as a timedelta; ISO 8601 (``P7D``, as a declaration is
    written back) and anything not text are left to pydantic."""
    if isinstance(value, str) and not value.startswith("P"):
        if not (match := DURATION.fullmatch(value.strip())):
            raise ValueError(f"{value!r} is not a duration; write it as a number and s, m, h or d, e.g. 7d")
        return timedelta(**{DURATION_UNITS[match[2]]: int(match[1])})
    return value


def parse_size(value: object) -> object:
    """``128MiB``, ``512KiB``, ``1GiB`` as a number of bytes; anything else is left to pydantic."""
    if isinstance(value, str):
        if not (match := SIZE.fullmatch(value.strip())):
            raise ValueError(f"{value!r} is not a size; write it as a number and B, KiB, MiB or GiB, e.g. 128MiB")
        return int(match[1]) * SIZE_UNITS[match[2]]
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


RETENTION_PROPERTY_PREFIX = "history.expire."


class SnapshotRetention(_Strict):
    """Snapshots older than ``max_age`` are expired, but the newest ``keep_last`` always stay."""

    max_age: timedelta = timedelta(days=7)
    keep_last: int = Field(default=5, ge=1)

    _max_age = field_validator("max_age", mode="before")(parse_duration)

    @property
    def table_properties(self) -> dict[str, str]:
        """The retention as Iceberg's table properties, which other engines' expiry (Trino's, Spark's) honours."""
        return {
            f"{RETENTION_PROPERTY_PREFIX}max-snapshot-age-ms": str(int(self.max_age.total_seconds() * 1000)),
            f"{RETENTION_PROPERTY_PREFIX}min-snapshots-to-keep": str(self.keep_last),
        }


class MaintenancePolicy(_Strict):
    """How a table is kept in shape: its small data files compacted into files near
    ``target_file_size`` once a partition has ``min_input_files`` of them, its snapshots expired by
    ``snapshot_retention``, and files no snapshot references removed once ``orphan_file_age`` old."""

    target_file_size: int = Field(default=128 * 2**20, gt=0)
    min_input_files: int = Field(default=5, ge=2)
    snapshot_retention: SnapshotRetention = SnapshotRetention()
    orphan_file_age: timedelta = timedelta(days=3)

    _target_file_size = field_validator("target_file_size", mode="before")(parse_size)
    _orphan_file_age = field_validator("orphan_file_age", mode="before")(parse_duration)


class ColumnDeclaration(_Strict):
    name: str
    type: str
    required: bool = False
    doc: str | None = None


class SourceDeclaration(_Strict):
    """``load`` is one mode, or a mode per kind of source database, such as
    ``{postgresql: cdc, sqlite: incremental}`` for a table whose changes PostgreSQL logs."""

    table: str
    load: LoadMode | dict[SourceKind, LoadMode]
    cursor: str | None = None

    @property
    def modes(self) -> set[LoadMode]:
        return set(self.load.values()) if isinstance(self.load, dict) else {self.load}

    def load_on(self, kind: str) -> LoadMode:
        """How the table loads from a source database of ``kind`` (a SQLAlchemy backend name)."""
        mode = self.load.get(SourceKind(kind)) if isinstance(self.load, dict) else self.load
        if mode is None:
            raise ValueError(f"source.load names no mode for a {kind} source; add `{kind}: <mode>`")
        if mode not in LOAD_MODES[SourceKind(kind)]:
            raise ValueError(
                f"source.load is {mode.value} but a {kind} source has no change log; "
                f"declare `load: {{postgresql: cdc, {kind}: incremental}}` (with a cursor) or `load: full`"
            )
        return mode

    @property
    def describe_load(self) -> str:
        if isinstance(self.load, dict):
            return ", ".join(f"{mode.value} on {kind.value}" for kind, mode in self.load.items())
        return self.load.value


class LandingSourceDeclaration(_Strict):
    """Files under ``<landing location>/<dataset>/``; the extension names each file's format."""

    dataset: str
    formats: list[FileFormat] = list(FileFormat)


class TopicSourceDeclaration(_Strict):
    """A Kafka topic whose message values are JSON objects with the declared columns. The broker
    keeps its messages for ``retention`` under ``cleanup_policy``: the topic Terraform creates
    (`terraform/kafka/`) reads them from this declaration."""

    name: str
    partitions: int = Field(default=3, gt=0)
    retention: timedelta = timedelta(days=7)
    cleanup_policy: Literal["delete", "compact"] = "delete"

    _retention = field_validator("retention", mode="before")(parse_duration)


class PartitionDeclaration(_Strict):
    column: str
    transform: str = "identity"


class BronzeTableDeclaration(_Strict):
    """What every bronze table declares, whatever its source."""

    lineage: ClassVar[LineageColumns] = LINEAGE_COLUMNS

    table: str
    key: list[str]
    columns: list[ColumnDeclaration]
    partition_by: list[PartitionDeclaration] = []
    sort_by: list[str] = []
    properties: dict[str, str] = {}
    maintenance: MaintenancePolicy = MaintenancePolicy()
    path: Path | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "BronzeTableDeclaration":
        names = [c.name for c in self.columns]
        reserved = [n for n in names if n in RESERVED_COLUMNS]
        if reserved:
            raise ValueError(f"column(s) {', '.join(reserved)} are reserved for lineage")
        referenced = {
            "key": self.key,
            "sort_by": self.sort_by,
            "partition_by": [p.column for p in self.partition_by],
        } | self._referenced_columns()
        for where, columns in referenced.items():
            unknown = [c for c in columns if c not in names]
            if unknown:
                raise ValueError(f"{where} names undeclared column(s) {', '.join(unknown)}")
        if retention := [key for key in self.properties if key.startswith(RETENTION_PROPERTY_PREFIX)]:
            raise ValueError(
                f"properties {', '.join(retention)} come from the maintenance policy: "
                "declare them as maintenance.snapshot_retention (max_age, keep_last)"
            )
        for column in self.columns:
            parse_type(column.type)
        for partition in self.partition_by:
            parse_transform(partition.transform)
        return self

    def _referenced_columns(self) -> dict[str, list[str]]:
        """Columns the source part of the declaration names, by where it names them."""
        return {}

    def lineage_columns(self) -> LineageColumns:
        """The columns every load adds after the declared ones."""
        return self.lineage

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def declared_in(self) -> str:
        return str(self.path) if self.path else f"the declaration of {self.table}"

    def iceberg_schema(self) -> Schema:
        """The declared columns followed by the lineage columns."""
        Column = tuple[str, PrimitiveType, bool, str | None]
        declared: list[Column] = [(c.name, parse_type(c.type), c.required, c.doc) for c in self.columns]
        lineage: list[Column] = [(name, kind, False, doc) for name, kind, doc in self.lineage_columns()]
        fields = [
            NestedField(field_id, name, kind, required=required, doc=doc)
            for field_id, (name, kind, required, doc) in enumerate(declared + lineage, start=1)
        ]
        return Schema(*fields)

    def partition_spec(self, schema: Schema) -> PartitionSpec:
        fields = []
        for offset, partition in enumerate(self.partition_by):
            transform = parse_transform(partition.transform)
            source = schema.find_field(partition.column)
            suffix = "" if isinstance(transform, IdentityTransform) else f"_{str(transform).split('[')[0]}"
            fields.append(
                PartitionField(source.field_id, FIRST_PARTITION_FIELD_ID + offset, transform, partition.column + suffix)
            )
        return PartitionSpec(*fields)

    def sort_order(self, schema: Schema) -> SortOrder:
        return SortOrder(
            *(SortField(source_id=schema.find_field(c).field_id, transform=IdentityTransform()) for c in self.sort_by)
        )


class TableDeclaration(BronzeTableDeclaration):
    """A table of the OLTP database."""

    source: SourceDeclaration

    def _referenced_columns(self) -> dict[str, list[str]]:
        if LoadMode.INCREMENTAL in self.source.modes and not self.source.cursor:
            raise ValueError("an incremental source needs a cursor column")
        if isinstance(self.source.load, dict):
            for kind in self.source.load:
                self.source.load_on(kind)
        return {"source.cursor": [self.source.cursor] if self.source.cursor else []}

    @property
    def captures_changes(self) -> bool:
        """Whether some source database loads it by change capture: its rows then carry their change."""
        return LoadMode.CDC in self.source.modes

    def lineage_columns(self) -> LineageColumns:
        return (*self.lineage, *CHANGE_COLUMNS) if self.captures_changes else self.lineage

    def load_mode(self, kind: str) -> LoadMode:
        """How the table loads from a source database of ``kind``; a `DeclarationError` naming the
        file when it cannot."""
        try:
            return self.source.load_on(kind)
        except ValueError as error:
            raise DeclarationError(f"{self.declared_in}: {error}") from None


class LandingDeclaration(BronzeTableDeclaration):
    """A dataset of landing files; each row records the file and line it came from, and when that file was
    delivered, which decides between two deliveries of the same key."""

    lineage: ClassVar[LineageColumns] = (
        *LINEAGE_COLUMNS,
        (SOURCE_FILE, StringType(), "the landing file the row came from"),
        (SOURCE_ROW, LongType(), "the row's line (CSV, JSON Lines) or row (Parquet) number in its file"),
        (DELIVERED_AT, TimestamptzType(), "when the file was delivered: its modification time in the landing store"),
    )

    landing: LandingSourceDeclaration


class TopicDeclaration(BronzeTableDeclaration):
    """A Kafka topic; each row records the partition and offset of its message."""

    lineage: ClassVar[LineageColumns] = (
        *LINEAGE_COLUMNS,
        (KAFKA_PARTITION, IntegerType(), "the Kafka partition of the message"),
        (KAFKA_OFFSET, LongType(), "the offset of the message in its partition"),
    )

    topic: TopicSourceDeclaration


SOURCE_KINDS: dict[str, type[BronzeTableDeclaration]] = {
    "source": TableDeclaration,
    "landing": LandingDeclaration,
    "topic": TopicDeclaration,
}


def validation_problems(error: ValidationError) -> str:
    """Each problem pydantic found, where it is and what is wrong, on one line."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in error.errors())


def load_declaration(path: Path) -> BronzeTableDeclaration:
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise DeclarationError(f"{path}: cannot read table declaration: {error}") from error
    if not isinstance(raw, dict):
        raise DeclarationError(f"{path}: expected a mapping with table, source, key and columns")
    kinds = [kind for kind in SOURCE_KINDS if kind in raw]
    if len(kinds) != 1:
        raise DeclarationError(f"{path}: expected exactly one of {', '.join(SOURCE_KINDS)}, got {len(kinds)}")
    try:
        return SOURCE_KINDS[kinds[0]].model_validate({**raw, "path": path})
    except ValidationError as error:
        raise DeclarationError(f"{path}: {validation_problems(error)}") from None


@cache
def all_declarations(directory: Path = DECLARATIONS_DIR) -> tuple[BronzeTableDeclaration, ...]:
    """Every declaration in ``directory``, sorted by table name."""
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise DeclarationError(f"no table declarations (*.yaml) found in {directory}")
    declarations = tuple(sorted((load_declaration(p) for p in paths), key=lambda d: d.table))
    tables = [d.table for d in declarations]
    if repeated := sorted({t for t in tables if tables.count(t) > 1}):
        raise DeclarationError(f"{directory}: table(s) {', '.join(repeated)} are declared more than once")
    return declarations


def bronze_declarations(directory: Path = DECLARATIONS_DIR) -> tuple[TableDeclaration, ...]:
    """The tables extracted from the OLTP database."""
    return tuple(d for d in all_declarations(directory) if isinstance(d, TableDeclaration))


def landing_declarations(directory: Path = DECLARATIONS_DIR) -> tuple[LandingDeclaration, ...]:
    """The datasets delivered as landing files."""
    return tuple(d for d in all_declarations(directory) if isinstance(d, LandingDeclaration))


def topic_declarations(directory: Path = DECLARATIONS_DIR) -> tuple[TopicDeclaration, ...]:
    """The Kafka topics ingested into bronze."""
    return tuple(d for d in all_declarations(directory) if isinstance(d, TopicDeclaration))
