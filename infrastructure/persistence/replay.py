"""Rebuilds every read model from the first event, or checks the live ones against such a rebuild.

A rebuild folds the whole event store in memory (the aggregates for the runtime model, the history
projection into an in-memory store), writes the result in bulk into fresh tables beside the live
ones (``ext_task_replay`` ...), then, with the event store's writers held back, applies the events
committed meanwhile and swaps the fresh tables in, moving the history projection's position to the
same event. Writers and the history catch-up of running servers wait for the swap, then carry on
against the new tables: no committed event is lost or applied twice.

A verification reads the live tables and the positions they stand at in one snapshot, folds the
events up to those positions, and compares row by row. It writes nothing.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import Notification
from psycopg.rows import dict_row

from domain.external_task import ExternalTask
from domain.process_instance import ProcessInstance
from infrastructure.persistence.database import DatabaseSettings
from infrastructure.persistence.history_position import HistoryPosition
from infrastructure.persistence.history_projection import (
    HISTORY_COLUMNS,
    HistoryProjection,
    InMemoryHistoryStore,
    SqlHistoryStore,
)
from infrastructure.persistence.history_tables import HISTORY_KEYS, HISTORY_TABLES
from infrastructure.persistence.runtime_projection import RUNTIME_COLUMNS, RuntimeProjection
from infrastructure.persistence.runtime_tables import RUNTIME_KEYS, RUNTIME_TABLES
from infrastructure.persistence.sql import Dialect

FRESH_SUFFIX = "_replay"
READ_BATCH = 10_000
SWAP_LOCK_TIMEOUT = "60s"

COLUMNS = {**RUNTIME_COLUMNS, **HISTORY_COLUMNS}
KEYS = {**RUNTIME_KEYS, **HISTORY_KEYS}
HISTORY_TABLE_NAMES = tuple(HISTORY_KEYS)

Progress = Callable[[int], None]


@dataclass
class ReplayResult:
    events: int  # events folded
    position: int  # the last event the read models now reflect
    rows: dict[str, int]  # rows per table after the rebuild
    seconds: float


@dataclass
class Difference:
    table: str
    key: tuple[Any, ...]
    problem: str  # "missing from the live model", "not in the rebuilt model" or "differs"
    columns: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # column: (live, rebuilt)

    def __str__(self) -> str:
        where = f"{self.table} {', '.join(f'{k}={v}' for k, v in zip(KEYS[self.table], self.key))}"
        if not self.columns:
            return f"{where}: {self.problem}"
        changes = "; ".join(f"{c}: live {live!r}, rebuilt {rebuilt!r}" for c, (live, rebuilt) in self.columns.items())
        return f"{where}: {changes}"


@dataclass
class VerifyResult:
    events: int
    runtime_position: int
    history_position: int
    rows: dict[str, int]  # live rows compared per table
    differences: list[Difference]
    seconds: float


class ReadModelFold:
    """The read models' state after the events folded so far: aggregates and history rows."""

    def __init__(self, mapper: Any) -> None:
        self._mapper = mapper
        self._projection = HistoryProjection()
        self.aggregates: dict[UUID, Any] = {}
        self.history = InMemoryHistoryStore()
        self.events = 0

    def apply(self, notification: Any, *, history: bool, history_store: Any = None) -> Any | None:
        """Fold one stored event, into ``history_store`` if given; answers the aggregate it changed
        (None for other aggregates')."""
        event = self._mapper.to_domain_event(notification)
        self.events += 1
        if history:
            self._projection.apply(history_store or self.history, notification.id, event)
        if not isinstance(event, (ExternalTask.Event, ProcessInstance.Event)):
            return None  # batches have no read model rows
        aggregate = event.mutate(self.aggregates.get(event.originator_id))
        if isinstance(aggregate, ExternalTask) and aggregate.is_removed:
            # An ended task never changes again, and has no runtime rows: forget it.
            self.aggregates.pop(event.originator_id, None)
        else:
            self.aggregates[event.originator_id] = aggregate
        return aggregate

    def rows(self, dialect: Dialect) -> dict[str, list[tuple[Any, ...]]]:
        return {**RuntimeProjection(dialect).rows(self.aggregates.values()), **self.history.rows()}


class ReadModelReplay:
    def __init__(self, settings: DatabaseSettings, event_store: Any, tracking_recorder: Any) -> None:
        self._settings = settings
        self._recorder = event_store.recorder
        self._mapper = event_store.mapper
        self._live = Dialect(settings.dialect, settings.schema)
        self._fresh = Dialect(settings.dialect, settings.schema, FRESH_SUFFIX)
        self._position = HistoryPosition(self._live, getattr(tracking_recorder, "tracking_table_name", "tracking"))
        self._events_table = self._live.table(self._recorder.events_table_name)
        # SQLite's notification id is the events table's rowid.
        self._notification_id = "notification_id" if settings.dialect == "postgres" else "rowid"

    # -- rebuilding -----------------------------------------------------------------------------

    def rebuild(self, on_progress: Progress = lambda n: None) -> ReplayResult:
        """Rebuild and swap in every read model; ``on_progress`` hears how many more events were folded."""
        started = time.perf_counter()
        target = self._recorder.max_notification_id() or 0
        fold = ReadModelFold(self._mapper)
        position = self._fold(fold, 0, target, history_until=target, on_progress=on_progress)
        self._create_fresh_tables(fold.rows(self._fresh))
        with self._writers_held_back() as cursor:
            # Nothing can commit now: apply what committed since the fold, then swap.
            self._position.lock(cursor)
            final = self._max_notification_id(cursor)
            history = SqlHistoryStore(cursor, self._fresh)
            changed: dict[UUID, Any] = {}
            for notification in self._notifications_after(cursor, position, final):
                aggregate = fold.apply(notification, history=True, history_store=history)
                if aggregate is not None:
                    changed[aggregate.id] = aggregate
                on_progress(1)
            RuntimeProjection(self._fresh).write(cursor, changed.values())
            self._swap(cursor)
            self._position.write(cursor, final)
            rows = {table: self._count(cursor, table) for table in COLUMNS}
        return ReplayResult(fold.events, final, rows, time.perf_counter() - started)

    def _create_fresh_tables(self, rows: dict[str, list[tuple[Any, ...]]]) -> None:
        tables, indexes = _split_ddl(RUNTIME_TABLES + HISTORY_TABLES)
        with self._transaction() as cursor:
            for table in COLUMNS:
                cursor.execute(f"DROP TABLE IF EXISTS {self._fresh.table(table)}")
            for statement in tables:
                cursor.execute(self._fresh.sql(statement))
            for table, table_rows in rows.items():
                self._bulk_insert(cursor, table, table_rows)
            for statement in indexes:  # after the rows: building an index once beats updating it per row
                cursor.execute(self._fresh.sql(statement))

    def _bulk_insert(self, cursor: Any, table: str, rows: list[tuple[Any, ...]]) -> None:
        columns = ", ".join(COLUMNS[table])
        if self._settings.dialect == "postgres":
            with cursor.copy(f"COPY {self._fresh.table(table)} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        elif rows:
            placeholders = ", ".join("?" * len(COLUMNS[table]))
            cursor.executemany(f"INSERT INTO {self._fresh.table(table)} ({columns}) VALUES ({placeholders})", rows)

    def _swap(self, cursor: Any) -> None:
        _, indexes = _split_ddl(RUNTIME_TABLES + HISTORY_TABLES)
        for table in COLUMNS:
            cursor.execute(f"DROP TABLE IF EXISTS {self._live.table(table)}")
            cursor.execute(f'ALTER TABLE {self._fresh.table(table)} RENAME TO "{table}"')
        if self._settings.dialect == "postgres":
            # Indexes (and the constraints they back) keep their names through a rename.
            cursor.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = ANY(%s) AND indexname LIKE %s",
                (self._settings.schema, list(COLUMNS), f"%{FRESH_SUFFIX}%"),
            )
            for (name,) in [tuple(r.values()) for r in cursor.fetchall()]:
                cursor.execute(
                    f'ALTER INDEX "{self._settings.schema}"."{name}" RENAME TO "{name.replace(FRESH_SUFFIX, "", 1)}"'
                )
        else:
            # SQLite renames a table's own key indexes with it, but cannot rename the others.
            for statement in indexes:
                cursor.execute(f"DROP INDEX IF EXISTS {_index_name(statement)}{FRESH_SUFFIX}")
                cursor.execute(self._live.sql(statement))

    # -- verifying ------------------------------------------------------------------------------

    def verify(self, on_progress: Progress = lambda n: None) -> VerifyResult:
        """Compare the live read models with a rebuild at the positions they stand at."""
        started = time.perf_counter()
        with self._snapshot() as cursor:
            runtime_position = self._max_notification_id(cursor)
            history_position = self._position.read(cursor)
            live = {table: self._select_all(cursor, self._live, table) for table in COLUMNS}
        fold = ReadModelFold(self._mapper)
        self._fold(fold, 0, runtime_position, history_until=history_position, on_progress=on_progress)
        differences = []
        for table, rebuilt in fold.rows(self._live).items():
            differences += compare(table, live[table], rebuilt)
        return VerifyResult(
            fold.events, runtime_position, history_position, {t: len(rows) for t, rows in live.items()},
            differences, time.perf_counter() - started,
        )

    # -- reading the event store ----------------------------------------------------------------

    def _fold(self, fold: ReadModelFold, start: int, stop: int, *, history_until: int, on_progress: Progress) -> int:
        position = start
        while position < stop:
            batch = self._recorder.select_notifications(position, READ_BATCH, stop=stop, inclusive_of_start=False)
            if not batch:
                break
            for notification in batch:
                fold.apply(notification, history=notification.id <= history_until)
            position = batch[-1].id
            on_progress(len(batch))
        return stop

    # -- database plumbing ----------------------------------------------------------------------

    def _notifications_after(self, cursor: Any, start: int, stop: int) -> list[Notification]:
        """Read on the caller's cursor: the library's reader connections would wait for our lock."""
        cursor.execute(
            f"SELECT {self._notification_id} AS id, originator_id, originator_version, topic, state "
            f"FROM {self._events_table} WHERE {self._notification_id} > {int(start)} "
            f"AND {self._notification_id} <= {int(stop)} ORDER BY {self._notification_id}"
        )
        convert = getattr(self._recorder, "convert_originator_id", lambda value: value)
        return [
            Notification(
                id=row["id"], originator_id=convert(row["originator_id"]),
                originator_version=row["originator_version"], topic=row["topic"], state=bytes(row["state"]),
            )
            for row in cursor.fetchall()
        ]

    def _max_notification_id(self, cursor: Any) -> int:
        cursor.execute(f"SELECT MAX({self._notification_id}) AS n FROM {self._events_table}")
        return _first(cursor.fetchone()) or 0

    def _count(self, cursor: Any, table: str) -> int:
        cursor.execute(f"SELECT COUNT(*) AS n FROM {self._live.table(table)}")
        return _first(cursor.fetchone())

    def _select_all(self, cursor: Any, dialect: Dialect, table: str) -> list[tuple[Any, ...]]:
        cursor.execute(f"SELECT {', '.join(COLUMNS[table])} FROM {dialect.table(table)}")
        return [tuple(row[c] for c in COLUMNS[table]) for row in cursor.fetchall()]

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        datastore = self._recorder.datastore
        if self._settings.dialect == "postgres":
            with datastore.get_connection() as connection, connection.transaction(), connection.cursor() as cursor:
                yield cursor
        else:
            with datastore.transaction(commit=True) as cursor:
                yield cursor

    @contextmanager
    def _writers_held_back(self) -> Iterator[Any]:
        """A transaction holding the event store's write lock: every writer waits until it ends."""
        datastore = self._recorder.datastore
        if self._settings.dialect == "postgres":
            with datastore.get_connection() as connection, connection.transaction(), connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'")
                cursor.execute(f"LOCK TABLE {self._events_table} IN EXCLUSIVE MODE")
                yield cursor
            return
        with datastore.get_connection(commit=True) as connection:
            cursor = connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
                connection.commit()
            except BaseException:
                connection.rollback()
                raise

    @contextmanager
    def _snapshot(self) -> Iterator[Any]:
        """A read-only transaction that sees the database as of its first read, on a connection of its own."""
        if self._settings.dialect == "postgres":
            with psycopg.connect(self._settings.admin_url, row_factory=dict_row) as connection:
                connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                with connection.cursor() as cursor:
                    yield cursor
                connection.rollback()
            return
        connection = sqlite3.connect(self._settings.library_env["SQLITE_DBNAME"], isolation_level=None)
        connection.row_factory = sqlite3.Row
        try:
            cursor = connection.cursor()
            cursor.execute("BEGIN")  # WAL: the snapshot is taken at the first read and kept
            yield cursor
            cursor.execute("ROLLBACK")
        finally:
            connection.close()


def compare(table: str, live: list[tuple[Any, ...]], rebuilt: list[tuple[Any, ...]]) -> list[Difference]:
    """The rows of one table that differ between the live and the rebuilt model, by key."""
    columns = COLUMNS[table]
    key_positions = [columns.index(c) for c in KEYS[table]]

    def by_key(rows: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
        return {tuple(row[i] for i in key_positions): row for row in rows}

    live_rows, rebuilt_rows = by_key(live), by_key(rebuilt)
    differences = []
    for key in sorted(live_rows.keys() | rebuilt_rows.keys(), key=repr):
        live_row, rebuilt_row = live_rows.get(key), rebuilt_rows.get(key)
        if live_row is None:
            differences.append(Difference(table, key, "missing from the live model"))
        elif rebuilt_row is None:
            differences.append(Difference(table, key, "not in the rebuilt model"))
        elif live_row != rebuilt_row:  # SQLite's 0/1 equal Python's booleans
            changed = {c: (a, b) for c, a, b in zip(columns, live_row, rebuilt_row) if a != b}
            differences.append(Difference(table, key, "differs", changed))
    return differences


def _split_ddl(statements: list[str]) -> tuple[list[str], list[str]]:
    indexes = [s for s in statements if s.lstrip().upper().startswith("CREATE INDEX")]
    return [s for s in statements if s not in indexes], indexes


def _index_name(statement: str) -> str:
    return statement.split("{@", 1)[1].split("}", 1)[0]


def _first(row: Any) -> Any:
    return row[0] if isinstance(row, (tuple, sqlite3.Row)) else next(iter(row.values()))
