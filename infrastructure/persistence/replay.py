"""Rebuilds every read model from the first event, or checks the live ones against such a rebuild.

A rebuild folds the whole event store (``replay_fold``: on PostgreSQL in one process per core for
a large store) and writes the result in bulk into fresh tables beside the live ones
(``ext_task_replay`` ...). Then, with the event store's writers held back, it applies the events
committed meanwhile and swaps the fresh tables in, moving the history projection's position to the
same event. Writers and the history catch-up of running servers wait for the swap, then carry on
against the new tables: no committed event is lost or applied twice.

A verification reads the live tables and the positions they stand at in one snapshot, folds the
events up to those positions, and compares row by row. It writes nothing.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from extask.infrastructure.persistence.database import DatabaseSettings
from extask.infrastructure.persistence.history_position import HistoryPosition
from extask.infrastructure.persistence.history_projection import SqlHistoryStore
from extask.infrastructure.persistence.history_tables import HISTORY_KEYS, HISTORY_TABLES
from extask.infrastructure.persistence.replay_fold import (
    COLUMNS,
    EventReader,
    Partition,
    PartitionJob,
    ReadModelFold,
    StoredNotification,
    fold_partition,
    fold_partition_in_worker,
    init_worker,
)
from extask.infrastructure.persistence.runtime_projection import RuntimeProjection
from extask.infrastructure.persistence.runtime_tables import RUNTIME_KEYS, RUNTIME_TABLES, storage_settings
from extask.infrastructure.persistence.sql import Dialect

FRESH_SUFFIX = "_replay"
SWAP_LOCK_TIMEOUT = "60s"
# Below this many events a second process costs more to start than it saves.
EVENTS_WORTH_A_PROCESS = 50_000
PROGRESS_INTERVAL_SECONDS = 0.2

KEYS = {**RUNTIME_KEYS, **HISTORY_KEYS}
DDL = RUNTIME_TABLES + HISTORY_TABLES
TABLE_DDL = [s for s in DDL if not s.lstrip().upper().startswith("CREATE INDEX")]
INDEX_DDL = [s for s in DDL if s not in TABLE_DDL]

Progress = Callable[[int], None]


class ReplayInProgress(RuntimeError):
    pass


@dataclass
class ReplayResult:
    events: int  # events folded
    position: int  # the last event the read models now reflect
    rows: dict[str, int]  # rows per table just after the swap
    seconds: float
    processes: int


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

    def rebuild(self, on_progress: Progress = lambda n: None, *, processes: int | None = None) -> ReplayResult:
        """Rebuild and swap in every read model; ``on_progress`` hears how many more events were
        folded. ``processes``: how many to fold in (PostgreSQL only; default: one per core for a
        large store)."""
        with self._only_replay():
            return self._rebuild(on_progress, processes)

    def _rebuild(self, on_progress: Progress, processes: int | None) -> ReplayResult:
        started = time.perf_counter()
        target = self._recorder.max_notification_id() or 0
        self._create_fresh_tables()
        processes = self._processes(target, processes)
        events = self._fold_into_fresh_tables(target, processes, on_progress)
        with self._transaction() as cursor:
            for statement in INDEX_DDL:  # after the rows: building an index once beats updating it per row
                cursor.execute(self._fresh.sql(statement))
        with self._transaction(hold_writers_back=True) as cursor:
            # Nothing can commit now: apply what committed since the fold, then swap.
            self._position.lock(cursor)
            final = self._max_notification_id(cursor)
            events += self._apply_since(cursor, target, final, on_progress)
            self._swap(cursor)
            self._position.write(cursor, final)
        seconds = time.perf_counter() - started
        with self._transaction() as cursor:  # counted after the commit: writers need not wait for it
            rows = {table: self._count(cursor, table) for table in COLUMNS}
        return ReplayResult(events, final, rows, seconds, processes)

    def _processes(self, target: int, wanted: int | None) -> int:
        if self._settings.dialect != "postgres":
            return 1  # SQLite has one writer at a time: parallel folds would queue on it
        if wanted is not None:
            return max(1, wanted)
        return min(os.cpu_count() or 1, 4) if target >= EVENTS_WORTH_A_PROCESS else 1

    def _create_fresh_tables(self) -> None:
        with self._transaction() as cursor:
            for table in COLUMNS:
                cursor.execute(f"DROP TABLE IF EXISTS {self._fresh.table(table)}")
            for statement in TABLE_DDL:
                cursor.execute(self._fresh.sql(statement))
            for statement in storage_settings(self._fresh, COLUMNS):
                cursor.execute(statement)

    def _fold_into_fresh_tables(self, target: int, processes: int, on_progress: Progress) -> int:
        jobs = [
            PartitionJob(self._settings, self._events_table, target, Partition(index, processes), self._fresh)
            for index in range(processes)
        ]
        if processes == 1:
            return fold_partition(jobs[0], self._mapper, on_progress)
        # Spawned, not forked: this process has threads and open connections a fork would share.
        context = multiprocessing.get_context("spawn")
        progress = context.Value("q", 0)
        reported = 0
        with ProcessPoolExecutor(processes, mp_context=context, initializer=init_worker, initargs=(progress,)) as pool:
            pending = {pool.submit(fold_partition_in_worker, job) for job in jobs}
            results = []
            while pending:
                done, pending = wait(pending, timeout=PROGRESS_INTERVAL_SECONDS, return_when=FIRST_COMPLETED)
                results += [future.result() for future in done]
                with progress.get_lock():
                    folded = progress.value
                on_progress(folded - reported)
                reported = folded
        return sum(results)

    def _apply_since(self, cursor: Any, start: int, stop: int, on_progress: Progress) -> int:
        """Bring the fresh tables from event ``start`` to ``stop`` with the live projections' own
        statements: history event by event, runtime rows for each aggregate the events changed.
        The runtime rows are an aggregate's whole state, so each changed one is folded from its
        first event; only its events after ``start`` reach the history."""
        after_start = f"{self._notification_id} > ? AND {self._notification_id} <= ?"
        cursor.execute(self._live.sql(f"SELECT DISTINCT originator_id FROM {self._events_table} WHERE {after_start}"), (start, stop))
        originators = [_first(row) for row in cursor.fetchall()]
        fold = ReadModelFold(self._mapper)
        history = SqlHistoryStore(cursor, self._fresh)
        latest: dict[UUID, Any] = {}  # ended tasks included: their rows must go
        applied = 0
        for chunk in range(0, len(originators), 500):
            ids = originators[chunk : chunk + 500]
            events = self._select_events(
                cursor, f"originator_id IN ({', '.join('?' * len(ids))}) AND {self._notification_id} <= ?", (*ids, stop),
            )
            for notification in events:
                new = notification.id > start
                aggregate = fold.apply(notification, history=new, history_store=history)
                applied += new
                if aggregate is not None:
                    latest[aggregate.id] = aggregate
        RuntimeProjection(self._fresh).write(cursor, latest.values())
        on_progress(applied)
        return applied

    def _select_events(self, cursor: Any, where: str, params: tuple[Any, ...]) -> list[StoredNotification]:
        """Read on the caller's cursor: the library's reader connections would wait for our lock."""
        cursor.execute(
            self._live.sql(
                f"SELECT originator_id, originator_version, topic, state, {self._notification_id} AS position "
                f"FROM {self._events_table} WHERE {where} ORDER BY {self._notification_id}"
            ),
            params,
        )
        return [
            StoredNotification(row["originator_id"], row["originator_version"], row["topic"], bytes(row["state"]), row["position"])
            for row in cursor.fetchall()
        ]

    def _swap(self, cursor: Any) -> None:
        for table in COLUMNS:
            cursor.execute(f"DROP TABLE IF EXISTS {self._live.table(table)}")
            cursor.execute(f'ALTER TABLE {self._fresh.table(table)} RENAME TO "{table}"')
        if self._settings.dialect == "postgres":
            # Indexes (and the constraints they back) keep their names through a rename.
            cursor.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = ANY(%s) AND indexname LIKE %s",
                (self._settings.schema, list(COLUMNS), f"%{FRESH_SUFFIX}%"),
            )
            for name in [row["indexname"] for row in cursor.fetchall()]:
                cursor.execute(
                    f'ALTER INDEX "{self._settings.schema}"."{name}" RENAME TO "{name.replace(FRESH_SUFFIX, "", 1)}"'
                )
        else:
            # SQLite renames a table's own key indexes with it, but cannot rename the others.
            for statement in INDEX_DDL:
                cursor.execute(f"DROP INDEX IF EXISTS {_index_name(statement)}{FRESH_SUFFIX}")
                cursor.execute(self._live.sql(statement))

    # -- verifying ------------------------------------------------------------------------------

    def verify(self, on_progress: Progress = lambda n: None) -> VerifyResult:
        """Compare the live read models with a rebuild at the positions they stand at."""
        started = time.perf_counter()
        with self._snapshot() as cursor:
            runtime_position = self._max_notification_id(cursor)
            history_position = self._position.read(cursor)
            live = {table: self._select_all(cursor, table) for table in COLUMNS}
        fold = ReadModelFold(self._mapper)
        reader = EventReader(self._settings, self._events_table)
        fold.fold(reader.batches(0, runtime_position), history_until=history_position, on_progress=on_progress)
        differences = []
        for table, rebuilt in fold.rows(self._live).items():
            differences += compare(table, live[table], rebuilt)
        return VerifyResult(
            fold.events, runtime_position, history_position, {t: len(rows) for t, rows in live.items()},
            differences, time.perf_counter() - started,
        )

    # -- database plumbing ----------------------------------------------------------------------

    def _max_notification_id(self, cursor: Any) -> int:
        cursor.execute(f"SELECT MAX({self._notification_id}) AS n FROM {self._events_table}")
        return _first(cursor.fetchone()) or 0

    def _count(self, cursor: Any, table: str) -> int:
        cursor.execute(f"SELECT COUNT(*) AS n FROM {self._live.table(table)}")
        return _first(cursor.fetchone())

    def _select_all(self, cursor: Any, table: str) -> list[tuple[Any, ...]]:
        cursor.execute(f"SELECT {', '.join(COLUMNS[table])} FROM {self._live.table(table)}")
        return [tuple(row[c] for c in COLUMNS[table]) for row in cursor.fetchall()]

    @contextmanager
    def _only_replay(self) -> Iterator[None]:
        """Refuse to start while another rebuild of the same tables runs (PostgreSQL; an embedded
        SQLite database has one operator)."""
        if self._settings.dialect != "postgres":
            yield
            return
        with psycopg.connect(self._settings.admin_url, autocommit=True) as connection:
            key = f"extask replay {self._settings.schema}"
            acquired = connection.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()
            if not acquired or not acquired[0]:
                raise ReplayInProgress(f"Another replay of schema {self._settings.schema} is running; try again when it has ended.")
            yield  # the lock ends with the connection

    @contextmanager
    def _transaction(self, *, hold_writers_back: bool = False) -> Iterator[Any]:
        """A transaction on the library's connections. Holding writers back, it takes the event
        store's write lock first, so every writer waits until it ends."""
        datastore = self._recorder.datastore
        if self._settings.dialect == "postgres":
            with datastore.get_connection() as connection, connection.transaction(), connection.cursor() as cursor:
                if hold_writers_back:
                    cursor.execute(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT}'")
                    cursor.execute(f"LOCK TABLE {self._events_table} IN EXCLUSIVE MODE")
                yield cursor
            return
        # SQLite has one write lock for the whole database: any writing transaction holds writers
        # back, and takes the lock at once (a read upgraded to a write fails if another committed).
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


def _index_name(statement: str) -> str:
    return statement.split("{@", 1)[1].split("}", 1)[0]


def _first(row: Any) -> Any:
    return row[0] if isinstance(row, (tuple, sqlite3.Row)) else next(iter(row.values()))
