"""Change data capture from PostgreSQL's own log: every insert, update and delete of a source
table reaches its bronze table exactly once.

Each source database has a publication of its captured tables and a logical replication slot
(plugin `pgoutput`), both named ``lakehouse_<database>``. The first run creates the slot and,
in the snapshot PostgreSQL exports at the slot's starting point, reads every captured table
whole: each row then stands as it was at the exact position the changes start from, so nothing
is lost or read twice between the two.

A later run reads the slot's changes up to the server's flushed position with *peek*, which
consumes nothing. Each table's changes are written in one commit that records the position after
the last transaction read (``lakehouse.cdc-lsn``), and only then is the slot advanced to it. A
run that dies before a commit leaves the slot where it was, and the next reads the same changes;
one that dies between a commit and the advance finds them again, and each table skips the
transactions its own recorded position says it holds. The slot is never moved past what every
table holds, so a slot that stands before where a table's last read started (dropped and made
again, or a restored server) cannot be explained by a crash: the run stops and says to
re-snapshot (`lakehouse cdc resnapshot`).
"""

import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from lakehouse.iceberg.catalog import bronze_table
from lakehouse.iceberg.commits import commit_load, missing_columns, recorded, retry_on_conflict
from lakehouse.iceberg.declarations import (
    CHANGE_SEQUENCE,
    COMMIT_LSN,
    COMMITTED_AT,
    OPERATION,
    TableDeclaration,
)
from lakehouse.ingest.chunks import rechunk, with_lineage
from lakehouse.ingest.database.pgoutput import (
    ChangeDecoder,
    ChangeStreamError,
    Operation,
    TableChanges,
    format_lsn,
    parse_lsn,
)
from lakehouse.ingest.database.source import SourceDatabase
from lakehouse.ingest.results import LoadResult, load_result
from lakehouse.ingest.rows import declared_schema

PLUGIN = "pgoutput"
# What a commit records: the slot read, where it stood when the run read it, the position after
# the last transaction the table holds, and the snapshot's position (the first load's).
SLOT = "cdc-slot"
READ_FROM = "cdc-read-from"
POSITION = "cdc-lsn"
SNAPSHOT_POSITION = "cdc-snapshot-lsn"
# Messages decoded at a time: a batch's Python objects live only until its rows are typed.
DECODE_BATCH = 100_000
SNAPSHOT_NAME = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")
RESNAPSHOT = "lakehouse cdc resnapshot"
CONNECT_TIMEOUT_SECONDS = 5


class CaptureError(Exception):
    """Changes cannot be captured without losing or repeating some: what is wrong and what to do."""


@dataclass(frozen=True)
class ChangeDetails:
    """What a captured table's load reports besides its rows."""

    position: str
    """The source log position the table holds every change before, as PostgreSQL writes it."""
    slot_lag_bytes: int
    """Write-ahead log the slot keeps on the source server: from where its oldest needed change
    starts to the server's current position."""
    snapshot: bool = False
    """The load was the initial snapshot."""


@dataclass(frozen=True)
class SlotState:
    name: str
    confirmed: int
    """Where the slot stands: every transaction committed before is consumed."""
    retained_from: int
    """The oldest log position the slot keeps on the server (its restart LSN)."""


@dataclass(frozen=True)
class SlotStatus:
    """A slot against its server: what a sensor and a metric read."""

    slot: SlotState | None
    server_position: int

    @property
    def pending_bytes(self) -> int:
        """Log written since the slot's position: changes may wait there."""
        return max(self.server_position - self.slot.confirmed, 0) if self.slot else 0

    @property
    def retained_bytes(self) -> int:
        return max(self.server_position - self.slot.retained_from, 0) if self.slot else 0


def replication_name(source: SourceDatabase) -> str:
    """The slot's and the publication's name: ``lakehouse_`` and the source database's name."""
    database = re.sub(r"[^a-z0-9_]", "_", (source.url.database or "").lower())
    return f"lakehouse_{database}"


def _conninfo(source: SourceDatabase) -> str:
    return source.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _connect(source: SourceDatabase, **options: Any) -> Any:
    import psycopg

    try:
        return psycopg.connect(_conninfo(source), autocommit=True, **options)
    except psycopg.OperationalError as error:
        raise CaptureError(f"cannot connect to {source.display_url} for change capture: {error}") from error


def _slot(connection: Any, name: str) -> SlotState | None:
    row = connection.execute(
        "SELECT confirmed_flush_lsn::text, restart_lsn::text, plugin FROM pg_replication_slots WHERE slot_name = %s",
        [name],
    ).fetchone()
    if row is None:
        return None
    confirmed, restart, plugin = row
    if plugin != PLUGIN:
        raise CaptureError(f"replication slot {name} decodes with {plugin}, not {PLUGIN}; drop it to let the capture "
                           f"make its own: SELECT pg_drop_replication_slot('{name}')")  # fmt: skip
    return SlotState(name, parse_lsn(confirmed), parse_lsn(restart))


def _server_position(connection: Any) -> int:
    # The flushed position: decoding reads no further, so a slot advanced to it skips nothing unread.
    return parse_lsn(connection.execute("SELECT pg_current_wal_flush_lsn()::text").fetchone()[0])


def slot_status(source: SourceDatabase) -> SlotStatus:
    """The source's capture slot and the server's position: two catalog reads."""
    with _connect(source, connect_timeout=CONNECT_TIMEOUT_SECONDS) as connection:
        return SlotStatus(_slot(connection, replication_name(source)), _server_position(connection))


def has_pending_changes(source: SourceDatabase, status: SlotStatus) -> bool:
    """Whether the slot holds a change to a captured table before ``status``'s server position.

    The server's log also moves with what no captured table sees (other databases, Dagster's own
    storage): this decodes it, up to the first captured change or the position, consuming nothing."""
    name = replication_name(source)
    with _connect(source, connect_timeout=CONNECT_TIMEOUT_SECONDS) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_logical_slot_peek_binary_changes(%s, %s::pg_lsn, 1, "
            "'proto_version', '1', 'publication_names', %s)",
            [name, format_lsn(status.server_position), name],
        ).fetchone()
    return bool(row[0])


def _require_logical_decoding(connection: Any, source: SourceDatabase) -> None:
    level = connection.execute("SHOW wal_level").fetchone()[0]
    if level != "logical":
        raise CaptureError(
            f"{source.display_url} has wal_level={level}: change capture needs wal_level=logical "
            "(set it in postgresql.conf, or `-c wal_level=logical`, and restart the server)"
        )


def _published(connection: Any, name: str) -> set[str]:
    rows = connection.execute("SELECT tablename FROM pg_publication_tables WHERE pubname = %s", [name]).fetchall()
    return {row[0] for row in rows}


def _publish(connection: Any, name: str, tables: Sequence[str]) -> None:
    """Make publication ``name`` publish ``tables``; the tables' owner or a superuser may."""
    from psycopg import sql

    exists = connection.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", [name]).fetchone()
    verb = "ALTER PUBLICATION {} SET TABLE {}" if exists else "CREATE PUBLICATION {} FOR TABLE {}"
    listed = sql.SQL(", ").join(sql.Identifier(table) for table in tables)
    connection.execute(sql.SQL(verb).format(sql.Identifier(name), listed))


def _require_publication(connection: Any, source: SourceDatabase, tables: Sequence[str]) -> None:
    """The publication of ``tables``, made here when the login may (it owns them); otherwise an
    error that says who may."""
    import psycopg

    name = replication_name(source)
    if not (missing := [table for table in tables if table not in _published(connection, name)]):
        return
    try:
        _publish(connection, name, sorted(_published(connection, name) | set(tables)))
    except psycopg.errors.InsufficientPrivilege as error:
        raise CaptureError(
            f"publication {name} in {source.display_url} does not publish {', '.join(missing)}, and "
            f"{source.url.username} may not change it ({error.diag.message_primary}): `lakehouse init` makes it "
            f"with LAKEHOUSE_POSTGRES_ADMIN_URL, or as the tables' owner: "
            f"CREATE PUBLICATION {name} FOR TABLE {', '.join(tables)}"
        ) from error


def prepare_publication(admin_conninfo: str, source: SourceDatabase, tables: Sequence[str], login: str) -> None:
    """As the source's admin: the publication of ``tables``, and the REPLICATION attribute for
    ``login``, which reads the slot."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_conninfo, autocommit=True) as connection:
        _publish(connection, replication_name(source), tables)
        connection.execute(sql.SQL("ALTER ROLE {} REPLICATION").format(sql.Identifier(login)))


def _typed_column(values: list[bytes | None], field: pa.Field, table: str) -> pa.Array:
    text = pa.array(values, pa.binary()).cast(pa.string())
    try:
        if pa.types.is_boolean(field.type):
            return pc.equal(text, "t")
        if pa.types.is_binary(field.type):
            return pa.array([None if v is None else bytes.fromhex(v[2:].decode()) for v in values], pa.binary())
        return text.cast(field.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise CaptureError(f"{table}.{field.name}: a change's value does not fit {field.type}: {error}") from error


def typed_changes(part: TableChanges, target: pa.Schema) -> pa.Table:
    """One part of a table's changes with the declared columns' types and the change's own columns."""
    positions = {name: index for index, name in enumerate(part.relation.columns)}
    name = part.relation.qualified_name
    columns = [
        _typed_column(part.values[positions[field.name]], field, name)
        if field.name in positions
        else pa.nulls(len(part), field.type)
        for field in target
    ]
    committed_at = pa.array(part.committed_at, pa.int64()).cast(pa.timestamp("us", "UTC"))
    change = [
        pa.array(part.operations, pa.string()),
        pa.array(part.commit_lsns, pa.int64()),
        committed_at,
        pa.array(part.sequences, pa.int64()),
    ]
    names = [*target.names, OPERATION, COMMIT_LSN, COMMITTED_AT, CHANGE_SEQUENCE]
    return pa.Table.from_arrays([*columns, *change], names=names)


def _snapshot_columns(rows: pa.Table, position: int) -> pa.Table:
    count = rows.num_rows
    return (
        rows.append_column(OPERATION, pa.repeat(pa.scalar(Operation.SNAPSHOT.value), count))
        .append_column(COMMIT_LSN, pa.repeat(pa.scalar(position, pa.int64()), count))
        .append_column(COMMITTED_AT, pa.nulls(count, pa.timestamp("us", "UTC")))
        .append_column(CHANGE_SEQUENCE, pa.nulls(count, pa.int64()))
    )


class ChangeCapture:
    """The captured tables of one PostgreSQL source database, loaded together from its slot."""

    def __init__(
        self,
        catalog: Catalog,
        source: SourceDatabase,
        declarations: Sequence[TableDeclaration],
        chunk_rows: int,
    ) -> None:
        if source.is_sqlite:
            raise CaptureError(
                f"{source.display_url}: SQLite keeps no log of its changes; change capture needs PostgreSQL"
            )
        self.catalog = catalog
        self.source = source
        self.declarations = {f"public.{d.source.table}": d for d in declarations}
        self.chunk_rows = chunk_rows
        self.slot_name = replication_name(source)

    def _tables(self) -> dict[str, Table]:
        return {name: bronze_table(self.catalog, d) for name, d in self.declarations.items()}

    def run(self) -> list[LoadResult[ChangeDetails]]:
        """Capture what changed since the tables' recorded position, or take the first snapshot."""
        started = time.perf_counter()
        with _connect(self.source) as connection:
            _require_logical_decoding(connection, self.source)
            _require_publication(connection, self.source, [d.source.table for d in self.declarations.values()])
            tables = self._tables()
            positions = {name: recorded(table, POSITION) for name, table in tables.items()}
            slot = _slot(connection, self.slot_name)
            if all(position is None for position in positions.values()) or self._interrupted_snapshot(tables, slot):
                return self._snapshot(connection, tables, started)
            self._require_slot_holds_every_change(tables, positions, slot)
            assert slot is not None
            return self._changes(connection, tables, slot, started)

    def resnapshot(self) -> list[LoadResult[ChangeDetails]]:
        """Drop the slot and load every captured table again from a new snapshot: after a dropped
        or moved slot, or a truncation."""
        started = time.perf_counter()
        with _connect(self.source) as connection:
            _require_logical_decoding(connection, self.source)
            _require_publication(connection, self.source, [d.source.table for d in self.declarations.values()])
            return self._snapshot(connection, self._tables(), started)

    def _interrupted_snapshot(self, tables: dict[str, Table], slot: SlotState | None) -> bool:
        """Whether only some tables hold the first snapshot and nothing read since: a first run that
        died between its commits, which a new snapshot completes."""
        positions = [(recorded(table, POSITION), recorded(table, SNAPSHOT_POSITION)) for table in tables.values()]
        if slot is None or all(position is not None for position, _ in positions):
            return False
        return all(
            position in (None, snapshot) and position in (None, str(slot.confirmed)) for position, snapshot in positions
        )

    def _require_slot_holds_every_change(
        self, tables: dict[str, Table], positions: dict[str, str | None], slot: SlotState | None
    ) -> None:
        names = ", ".join(f"bronze.{self.declarations[name].table}" for name in tables)
        if slot is None:
            raise CaptureError(
                f"replication slot {self.slot_name} does not exist in {self.source.display_url}, but {names} hold "
                f"changes up to {format_lsn(max(int(p) for p in positions.values() if p))}: the changes since "
                f"cannot be read. `{RESNAPSHOT}` loads the tables again from a new slot's snapshot"
            )
        for name, table in tables.items():
            position, read_from = positions[name], recorded(table, READ_FROM)
            if position is None or read_from is None:
                raise CaptureError(
                    f"bronze.{self.declarations[name].table} was never loaded from slot {self.slot_name} while "
                    f"the other captured tables were: `{RESNAPSHOT}` loads them all from one snapshot"
                )
            if slot.confirmed < int(read_from):
                raise CaptureError(
                    f"replication slot {self.slot_name} stands at {format_lsn(slot.confirmed)}, before "
                    f"{format_lsn(int(read_from))} where bronze.{self.declarations[name].table}'s last read "
                    "started: the slot was made again or the server restored, and its changes are not the ones "
                    f"bronze holds. `{RESNAPSHOT}` loads the tables again from a new snapshot"
                )

    def _snapshot(self, connection: Any, tables: dict[str, Table], started: float) -> list[LoadResult[ChangeDetails]]:
        connection.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
            [self.slot_name],
        )
        # The replication connection exports its snapshot for as long as it stays open and idle.
        with _connect(self.source, replication="database") as replication:
            created = replication.pgconn.exec_(
                f'CREATE_REPLICATION_SLOT "{self.slot_name}" LOGICAL {PLUGIN} EXPORT_SNAPSHOT'.encode()
            )
            if created.status != 2:  # TUPLES_OK
                raise CaptureError(
                    f"creating replication slot {self.slot_name} in {self.source.display_url} failed: "
                    f"{created.error_message.decode().strip()}"
                )
            position = parse_lsn(created.get_value(0, 1).decode())
            exported = created.get_value(0, 2).decode()
            assert SNAPSHOT_NAME.fullmatch(exported), exported
            loaded = []
            for name, table in tables.items():
                declaration = self.declarations[name]

                def snapshot_rows(declaration: TableDeclaration = declaration) -> Iterator[pa.Table]:
                    columns = declaration.column_names
                    reader = self.source.read(declaration.source.table, columns, snapshot=exported)
                    for chunk in rechunk(reader, reader.schema, self.chunk_rows):
                        yield _snapshot_columns(chunk, position)

                marks = {READ_FROM: str(position), POSITION: str(position), SNAPSHOT_POSITION: str(position)}
                loaded.append((name, self._commit(table, declaration, snapshot_rows, marks, replace=True)))
        return self._results(tables, loaded, position, started, snapshot=True)

    def _read_changes(self, connection: Any, slot: SlotState) -> tuple[dict[str, list[pa.Table]], int]:
        """Every change the slot has for the captured tables up to the server's position now, typed;
        and the position after the last transaction read."""
        import psycopg

        bound = _server_position(connection)
        decoder = ChangeDecoder()
        captured: dict[str, list[pa.Table]] = {}
        end = slot.confirmed
        targets = {name: declared_schema(d) for name, d in self.declarations.items()}
        try:
            with connection.transaction(), connection.cursor(name="lakehouse_changes", binary=True) as cursor:
                cursor.execute(
                    "SELECT data FROM pg_logical_slot_peek_binary_changes(%s, %s::pg_lsn, NULL, "
                    "'proto_version', '1', 'publication_names', %s)",
                    [self.slot_name, format_lsn(bound), self.slot_name],
                )
                while batch := cursor.fetchmany(DECODE_BATCH):
                    decoded = decoder.decode(row[0] for row in batch)
                    end = max(end, decoded.end_lsn or end)
                    for name, parts in decoded.tables.items():
                        if name in targets:
                            captured.setdefault(name, []).extend(typed_changes(part, targets[name]) for part in parts)
        except psycopg.Error as error:
            raise CaptureError(f"reading slot {self.slot_name} in {self.source.display_url} failed: {error}") from error
        except ChangeStreamError as error:
            raise CaptureError(str(error)) from error
        # Every transaction whose commit starts before the bound was read, and no other ends past `end`.
        return captured, max(end, bound)

    def _changes(
        self, connection: Any, tables: dict[str, Table], slot: SlotState, started: float
    ) -> list[LoadResult[ChangeDetails]]:
        captured, reached = self._read_changes(connection, slot)
        loaded = []
        for name, table in tables.items():
            held = int(recorded(table, POSITION) or 0)
            # A transaction committed at or after the table's position is new to it; one before, it holds.
            new = [chunk.filter(pc.greater_equal(chunk[COMMIT_LSN], held)) for chunk in captured.get(name, [])]
            if new := [chunk for chunk in new if chunk.num_rows]:
                marks = {READ_FROM: str(slot.confirmed), POSITION: str(reached)}
                loaded.append((name, self._commit(table, self.declarations[name], new.__iter__, marks, replace=False)))
        if reached > slot.confirmed:
            self._advance(connection, reached)
        return self._results(tables, loaded, reached, started)

    def _advance(self, connection: Any, position: int) -> None:
        """Move the slot to ``position``, once every table holds what comes before it: the server
        may then recycle that much of its log."""
        connection.execute("SELECT pg_replication_slot_advance(%s, %s::pg_lsn)", [self.slot_name, format_lsn(position)])

    def _commit(
        self,
        table: Table,
        declaration: TableDeclaration,
        chunks: Callable[[], Iterator[pa.Table]],
        marks: dict[str, str],
        *,
        replace: bool,
    ) -> int:
        """``chunks`` in one commit recording the slot and ``marks``; again from the start of
        ``chunks`` when another writer (a compaction) committed first."""
        ingested_at = datetime.now(UTC)
        label = f"{self.source.label}.{declaration.source.table}"
        position = {SLOT: self.slot_name, **marks}
        lineage = declaration.iceberg_schema().as_arrow()

        def attempt() -> int:
            current = table.refresh()
            stamped = (with_lineage(chunk, ingested_at, label) for chunk in chunks())
            return commit_load(
                current, stamped, position, replace=replace, new_columns=missing_columns(current, lineage)
            )

        return retry_on_conflict(attempt)

    def _results(
        self,
        tables: dict[str, Table],
        loaded: list[tuple[str, int]],
        position: int,
        started: float,
        *,
        snapshot: bool = False,
    ) -> list[LoadResult[ChangeDetails]]:
        written = dict(loaded)
        retained = slot_status(self.source).retained_bytes
        results = []
        for name, table in tables.items():
            held = max(int(recorded(table.refresh(), POSITION) or 0), position if name in written else 0)
            rows = written.get(name, 0)
            results.append(
                load_result(
                    f"bronze.{self.declarations[name].table}",
                    table,
                    ChangeDetails(format_lsn(held), retained, snapshot),
                    time.perf_counter() - started,
                    rows_written=rows,
                    skipped_reason=None if name in written else "no change since the recorded position",
                )
            )
        return results
