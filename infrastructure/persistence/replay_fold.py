"""Folding stored events into read-model rows, for replay: the reading, the fold and the bulk write.

Every read-model row belongs to exactly one aggregate (a task's runtime row, its log rows and
incidents; a process instance's row and variables), so the event store can be cut into partitions
by aggregate id and each partition folded on its own, in another process if there are cores to
spare. A partition is read on a connection of its own, the next batch while the last one folds.
"""

from __future__ import annotations

import gc
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple
from uuid import UUID

import psycopg
from psycopg.rows import tuple_row

from extask.application.event_store import ExternalTaskEventStore
from extask.domain.external_task import ExternalTask
from extask.domain.process_instance import ProcessInstance
from extask.infrastructure.persistence.database import DatabaseSettings
from extask.infrastructure.persistence.history_projection import HISTORY_COLUMNS, HistoryProjection, InMemoryHistoryStore
from extask.infrastructure.persistence.runtime_projection import RUNTIME_COLUMNS, RuntimeProjection
from extask.infrastructure.persistence.sql import Dialect

COLUMNS = {**RUNTIME_COLUMNS, **HISTORY_COLUMNS}
READ_BATCH = 10_000


class StoredNotification(NamedTuple):
    """What the mapper reads of a ``Notification``, as a tuple: far cheaper to build a million of."""

    originator_id: Any  # a UUID, or its hex text on SQLite
    originator_version: int
    topic: str
    state: bytes
    id: int


@dataclass(frozen=True)
class Partition:
    """Partition ``index`` of ``count``: the aggregates whose id hashes to it (PostgreSQL's hashtext)."""

    index: int = 0
    count: int = 1


class ReadModelFold:
    """The read models' state after the events folded so far: aggregates and history rows."""

    def __init__(self, mapper: Any) -> None:
        self._mapper = mapper
        self._projection = HistoryProjection()
        self.aggregates: dict[UUID, Any] = {}
        self.history = InMemoryHistoryStore()
        self.events = 0

    def apply(self, notification: Any, *, history: bool = True, history_store: Any = None) -> Any | None:
        """Fold one stored event into the aggregates and, with ``history``, into the history
        (``history_store`` if given); answers the aggregate it changed (None for other aggregates')."""
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

    def fold(self, batches: Iterator[list[StoredNotification]], *, history_until: int, on_progress: Callable[[int], None]) -> None:
        # The fold only adds objects that live until the end; the cyclic collector would walk all
        # of them again and again for nothing.
        collecting = gc.isenabled()
        gc.disable()
        try:
            for batch in batches:
                for notification in batch:
                    self.apply(notification, history=notification.id <= history_until)
                on_progress(len(batch))
        finally:
            if collecting:
                gc.enable()

    def rows(self, dialect: Dialect) -> dict[str, list[tuple[Any, ...]]]:
        """Every read-model row, by table, in ``COLUMNS`` order."""
        return {**RuntimeProjection(dialect).rows(self.aggregates.values()), **self.history.rows()}


class EventReader:
    """Reads one partition of the event store, in order, on a connection of its own."""

    def __init__(self, settings: DatabaseSettings, events_table: str, partition: Partition = Partition()) -> None:
        self._settings = settings
        self._events_table = events_table
        self._partition = partition

    def batches(self, start: int, stop: int) -> Iterator[list[StoredNotification]]:
        """The events in (start, stop], in batches, the next one read by a thread of its own while
        the caller folds this one (reading waits on the database, folding on the interpreter)."""
        batches: queue.Queue[list[StoredNotification] | BaseException | None] = queue.Queue(maxsize=2)

        def read() -> None:
            try:
                with connect(self._settings) as connection:
                    # Windows of positions, not LIMITs: a window is an index range whatever the
                    # planner knows of the table, and a partition's share of it is one batch.
                    window = READ_BATCH * self._partition.count
                    for position in range(start, stop, window):
                        batch = self._read(connection, position, min(position + window, stop))
                        if batch:
                            batches.put(batch)
                batches.put(None)
            except BaseException as error:  # handed to the folding thread, which raises it
                batches.put(error)

        reader = threading.Thread(target=read, name="replay-reader", daemon=True)
        reader.start()
        while (item := batches.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
        reader.join()

    def _read(self, connection: Any, start: int, stop: int) -> list[StoredNotification]:
        if self._settings.dialect != "postgres":
            rows = connection.execute(
                f"SELECT originator_id, originator_version, topic, state, rowid FROM {self._events_table} "
                "WHERE rowid > ? AND rowid <= ? ORDER BY rowid",
                (start, stop),
            ).fetchall()
            return list(map(StoredNotification._make, rows))
        partition = ""
        if self._partition.count > 1:
            partition = f"AND (hashtext(originator_id::text) & 2147483647) %% {self._partition.count} = {self._partition.index} "
        # Plain tuples: a dict or a frozen dataclass per row costs as much as decoding the event.
        with connection.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(
                f"SELECT originator_id, originator_version, topic, state, notification_id FROM {self._events_table} "
                f"WHERE notification_id > %s AND notification_id <= %s {partition}ORDER BY notification_id",
                (start, stop),
            )
            return list(map(StoredNotification._make, cursor.fetchall()))


@contextmanager
def connect(settings: DatabaseSettings, *, write: bool = False) -> Iterator[Any]:
    """A connection of replay's own, in a transaction committed when the block ends without an
    error (on SQLite one that takes the write lock at once: upgrading a read to a write fails at
    once if another writer committed in between)."""
    if settings.dialect == "postgres":
        with psycopg.connect(settings.admin_url) as connection:
            yield connection
        return
    timeout = float(settings.library_env["SQLITE_LOCK_TIMEOUT"])
    connection = sqlite3.connect(settings.library_env["SQLITE_DBNAME"], timeout=timeout, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        yield connection
        connection.execute("COMMIT")
    finally:
        connection.close()  # without a COMMIT, this rolls back


def write_rows(settings: DatabaseSettings, dialect: Dialect, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    """Append the rows to ``dialect``'s tables in one transaction (COPY on PostgreSQL)."""
    with connect(settings, write=True) as connection:
        for table, table_rows in rows.items():
            columns = ", ".join(COLUMNS[table])
            if settings.dialect == "postgres":
                with connection.cursor() as cursor, cursor.copy(f"COPY {dialect.table(table)} ({columns}) FROM STDIN") as copy:
                    for row in table_rows:
                        copy.write_row(row)
            elif table_rows:
                placeholders = ", ".join("?" * len(COLUMNS[table]))
                connection.executemany(f"INSERT INTO {dialect.table(table)} ({columns}) VALUES ({placeholders})", table_rows)


@dataclass(frozen=True)
class PartitionJob:
    settings: DatabaseSettings
    events_table: str
    stop: int
    partition: Partition
    target: Dialect  # the tables the rows go to


def fold_partition(job: PartitionJob, mapper: Any = None, on_progress: Callable[[int], None] = lambda n: None) -> int:
    """Fold one partition's events up to ``job.stop`` and write its rows; answers how many events
    it folded. Runs in a worker process too, where it builds its own mapper."""
    if mapper is None:
        mapper = _mapper(job.settings)
    fold = ReadModelFold(mapper)
    reader = EventReader(job.settings, job.events_table, job.partition)
    fold.fold(reader.batches(0, job.stop), history_until=job.stop, on_progress=on_progress)
    write_rows(job.settings, job.target, fold.rows(job.target))
    return fold.events


_progress: Any = None  # a worker process's shared counter of events folded


def init_worker(progress: Any) -> None:
    global _progress
    _progress = progress


def fold_partition_in_worker(job: PartitionJob) -> int:
    def count(events: int) -> None:
        with _progress.get_lock():
            _progress.value += events

    return fold_partition(job, on_progress=count)


def _mapper(settings: DatabaseSettings) -> Any:
    # The event store's own mapper, so events decode exactly as the server decodes them.
    event_store = ExternalTaskEventStore(env=settings.library_env)
    try:
        return event_store.mapper
    finally:
        event_store.close()
