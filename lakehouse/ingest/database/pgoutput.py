"""PostgreSQL's logical replication messages (the `pgoutput` plugin, protocol version 1), decoded
into each table's changes, column by column.

A change carries the values of its row after the change (inserts and updates) or the key of the
row it removed (deletes), as the text PostgreSQL's output functions write. They stay bytes here:
the table's Arrow schema types them all at once (`changes.typed_changes`), far faster than value
by value. Every change also carries the transaction it was committed in: the commit's LSN and
time, and its place among that transaction's changes.

Message layouts: https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html
"""

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

_INT16 = struct.Struct("!h")
_INT32 = struct.Struct("!i")
_RELATION_ID = struct.Struct("!I")
_BEGIN = struct.Struct("!QqI")  # the commit's LSN, its time, the transaction id
_COMMIT = struct.Struct("!BQQq")  # flags, the commit's LSN, the transaction's end LSN, its time
# PostgreSQL counts time in microseconds from 2000-01-01; Unix time from 1970-01-01.
POSTGRES_EPOCH_MICROSECONDS = 946_684_800_000_000

TEXT, NULL, UNCHANGED_TOAST = ord("t"), ord("n"), ord("u")


class Operation(StrEnum):
    SNAPSHOT = "snapshot"
    """A row as the initial snapshot read it."""
    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"


class ChangeStreamError(Exception):
    """The replication stream holds something the capture cannot apply as a row change."""


@dataclass
class Relation:
    """A table as a Relation message describes it: its name and its columns, in order."""

    schema: str
    name: str
    columns: list[str]

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass
class TableChanges:
    """One table's changes, column by column; a deleted row's non-key values are None."""

    relation: Relation
    values: list[list[bytes | None]]
    operations: list[str] = field(default_factory=list)
    commit_lsns: list[int] = field(default_factory=list)
    committed_at: list[int] = field(default_factory=list)
    """Microseconds since 1970-01-01 UTC."""
    sequences: list[int] = field(default_factory=list)
    """The change's place among its transaction's changes, from 0."""

    def __len__(self) -> int:
        return len(self.operations)


@dataclass
class DecodedChanges:
    tables: dict[str, list[TableChanges]] = field(default_factory=dict)
    """By qualified table name: one part per column layout, a new one after the table changed."""
    transactions: int = 0
    end_lsn: int | None = None
    """The end of the last transaction decoded: where a slot that consumed them all stands."""


def _string(data: bytes, at: int) -> tuple[str, int]:
    end = data.index(0, at)
    return data[at:end].decode(), end + 1


def _tuple_values(data: bytes, at: int, relation: Relation) -> tuple[list[bytes | None], int]:
    (count,) = _INT16.unpack_from(data, at)
    at += 2
    values: list[bytes | None] = []
    append = values.append
    for column in range(count):
        kind = data[at]
        at += 1
        if kind == TEXT:
            (length,) = _INT32.unpack_from(data, at)
            at += 4
            append(data[at : at + length])
            at += length
        elif kind == NULL:
            append(None)
        elif kind == UNCHANGED_TOAST:
            raise ChangeStreamError(
                f"{relation.qualified_name}.{relation.columns[column]}: an update left a value stored out of line "
                "(TOAST, over about 2 kB) unchanged, and PostgreSQL does not send such a value; "
                f"`ALTER TABLE {relation.qualified_name} REPLICA IDENTITY FULL` makes it send the whole row"
            )
        else:
            raise ChangeStreamError(f"{relation.qualified_name}: unknown column kind {chr(kind)!r} in a change")
    return values, at


class ChangeDecoder:
    """Decodes a slot's messages in order. Relations and the open transaction are remembered
    across calls of `decode`, so a transaction may span any number of them."""

    def __init__(self) -> None:
        self._relations: dict[int, Relation] = {}
        self._commit_lsn = self._committed_at = self._sequence = 0

    def decode(self, messages: Iterable[bytes]) -> DecodedChanges:
        decoded = DecodedChanges()
        for data in messages:
            kind = data[0]
            if kind == 0x42:  # B: begin
                self._commit_lsn, commit_time, _ = _BEGIN.unpack_from(data, 1)
                self._committed_at = commit_time + POSTGRES_EPOCH_MICROSECONDS
                self._sequence = 0
            elif kind == 0x43:  # C: commit
                _, _, decoded.end_lsn, _ = _COMMIT.unpack_from(data, 1)
                decoded.transactions += 1
            elif kind in b"IUD":
                self._change(decoded, data, self._commit_lsn, self._committed_at, self._sequence)
                self._sequence += 1
            elif kind == 0x52:  # R: relation
                self._relation(data)
            elif kind == 0x54:  # T: truncate
                (count,) = _INT32.unpack_from(data, 1)
                ids = struct.unpack_from(f"!{count}I", data, 6)
                names = ", ".join(self._relations[i].qualified_name for i in ids if i in self._relations)
                raise ChangeStreamError(
                    f"TRUNCATE of {names} at LSN {format_lsn(self._commit_lsn)}: a truncation removes every row "
                    "without a change per row; reload the tables with `lakehouse cdc resnapshot`"
                )
            # Y (type), O (origin) and M (message) change no row.
        return decoded

    def _relation(self, data: bytes) -> None:
        (relation_id,) = _RELATION_ID.unpack_from(data, 1)
        schema, at = _string(data, 5)
        name, at = _string(data, at)
        at += 1  # replica identity
        (count,) = _INT16.unpack_from(data, at)
        at += 2
        columns = []
        for _ in range(count):
            column, at = _string(data, at + 1)  # past the flags
            columns.append(column)
            at += 8  # type oid and modifier
        self._relations[relation_id] = Relation(schema, name, columns)

    def _change(self, decoded: DecodedChanges, data: bytes, commit_lsn: int, committed_at: int, sequence: int) -> None:
        kind = data[0]
        (relation_id,) = _RELATION_ID.unpack_from(data, 1)
        relation = self._relations.get(relation_id)
        if relation is None:
            raise ChangeStreamError(f"a change at LSN {format_lsn(commit_lsn)} names relation {relation_id} before "
                                    "its description")  # fmt: skip
        at = 5
        if kind == 0x55 and data[at] in b"KO":  # an update that changed the key sends the old one first
            _, at = _tuple_values(data, at + 1, relation)
        values, _ = _tuple_values(data, at + 1, relation)
        operation = Operation.INSERT if kind == 0x49 else Operation.UPDATE if kind == 0x55 else Operation.DELETE
        parts = decoded.tables.setdefault(relation.qualified_name, [])
        if not parts or parts[-1].relation is not relation:
            parts.append(TableChanges(relation, [[] for _ in relation.columns]))
        changes = parts[-1]
        for column, value in zip(changes.values, values, strict=True):
            column.append(value)
        changes.operations.append(operation.value)
        changes.commit_lsns.append(commit_lsn)
        changes.committed_at.append(committed_at)
        changes.sequences.append(sequence)


def parse_lsn(text: str) -> int:
    """PostgreSQL's ``16/B374D848`` as a number."""
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def format_lsn(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"
