"""The library's recorders, extended with extask's read-model tables and group commit.

The application recorders write the runtime read model in the same transaction as the events
(the insert hook), and insert many commands' events in one transaction (``insert_event_groups``):
under the event store's write lock they check each group's versions against the stored ones, so a
group that lost to a concurrent writer is refused alone while the others commit. On PostgreSQL
that transaction is one statement (``postgres_commit``). The tracking
recorders own the history tables, so history rows and the projection's position commit together
(exactly-once). The library is told to use these classes by topic in ``database.py``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresTrackingRecorder,
)
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteTrackingRecorder,
)
from psycopg.sql import SQL

from extask.application.errors import BadRequest
from extask.infrastructure.persistence.history_tables import HISTORY_KEYS, HISTORY_TABLES
from extask.infrastructure.persistence.postgres_commit import (
    MISSING_TASK_ROW_SQLSTATE,
    BatchPart,
    CommitChannel,
    batch_document,
    batch_part,
    commit_function,
    commit_statement,
)
from extask.infrastructure.persistence.postgres_connections import hand_out_open_connections
from extask.infrastructure.persistence.runtime_projection import MissingTaskRow, RuntimeChanges, RuntimeProjection
from extask.infrastructure.persistence.runtime_tables import RUNTIME_KEYS, RUNTIME_TABLES, retire_indexes, storage_settings
from extask.infrastructure.persistence.sql import Dialect
from extask.infrastructure.persistence.unfinished_batches import create_index, retire_index, select_unfinished

# An aggregate a command saved, with the domain events it was saved with.
Saved = tuple[Any, Sequence[Any]]


@dataclass
class EventGroup:
    """One command's save, made ready for a group commit by the thread that decided it, so that
    the writer only has to put the batch together: its stored events, its aggregates, the runtime
    changes they make, and (PostgreSQL) its part of the batch document."""

    events: Sequence[StoredEvent]
    aggregates: Sequence[Any]
    changes: RuntimeChanges
    part: BatchPart | None = None


def accepted_groups(groups: Sequence[EventGroup], stored_versions: dict[UUID, int]) -> list[bool]:
    """Which groups continue their aggregates' stored history exactly (and come first in the batch
    to change them)."""
    accepted = []
    for group, ok in zip(groups, distinct_groups(groups)):
        expected: dict[UUID, int] = {}
        for event in group.events:
            next_version = expected.get(event.originator_id, stored_versions.get(event.originator_id, 0) + 1)
            if event.originator_version != next_version:
                ok = False
                break
            expected[event.originator_id] = next_version + 1
        accepted.append(ok)
    return accepted


def distinct_groups(groups: Sequence[EventGroup]) -> list[bool]:
    """Refuse a group that changes an aggregate an earlier group of the same batch changes.

    A command decides on committed state only, so two groups of one batch changing one aggregate
    were decided on the same state and at most the first can stand. It also leaves each
    aggregate's runtime rows to one group, so a batch's changes can be applied in any order.
    """
    claimed: set[UUID] = set()
    distinct = []
    for group in groups:
        ids = {event.originator_id for event in group.events}
        ok = not (ids & claimed)
        if ok:
            claimed |= ids
        distinct.append(ok)
    return distinct


def without_stale_groups(
    groups: Sequence[EventGroup], accepted: list[bool], stored_versions: Callable[[list[UUID]], dict[UUID, int]]
) -> list[bool]:
    """After an event of the accepted groups collided with a stored one: the groups that still
    continue their aggregates' stored history. If that refuses none, the collision was not a stale
    group's, and the caller re-raises it."""
    candidates = [group for group, ok in zip(groups, accepted) if ok]
    ids = list({event.originator_id for group in candidates for event in group.events})
    still = iter(accepted_groups(candidates, stored_versions(ids)))
    return [ok and next(still) for ok in accepted]


class SQLiteExternalTaskRecorder(SQLiteApplicationRecorder):
    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events") -> None:
        self.dialect = Dialect("sqlite")
        self.runtime_projection = RuntimeProjection(self.dialect)
        super().__init__(datastore, events_table_name)

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            *(self.dialect.sql(s) for s in RUNTIME_TABLES),
            *retire_indexes(self.dialect),
            create_index(self.events_table_name),
            retire_index(),
        ]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._insert_events(c, stored_events, **kwargs)
        self.runtime_projection.write(c, kwargs.get("aggregates", ()))
        return notification_ids

    def prepare_group(self, events: Sequence[StoredEvent], saved: Sequence[Saved]) -> EventGroup:
        return EventGroup(events, [aggregate for aggregate, _ in saved], self.runtime_projection.changes(saved))

    def insert_event_groups(self, groups: Sequence[EventGroup]) -> list[bool]:
        # The events' primary key is the version check: a stale group's event collides with a
        # stored one and fails the transaction, which is then tried again without the stale groups.
        accepted = distinct_groups(groups)
        while any(accepted):
            candidates = [group for group, ok in zip(groups, accepted) if ok]
            with self.datastore.get_connection(commit=True) as connection:
                cursor = connection.cursor()
                # IMMEDIATE takes the write lock at once rather than at the first insert.
                cursor.execute("BEGIN IMMEDIATE")
                try:
                    cursor.executemany(
                        self.insert_events_statement,
                        [(e.originator_id.hex, e.originator_version, e.topic, e.state) for g in candidates for e in g.events],
                    )
                    self.runtime_projection.apply(cursor, RuntimeChanges.merged(g.changes for g in candidates))
                    connection.commit()
                    return accepted
                except sqlite3.IntegrityError:
                    connection.rollback()
                    refreshed = without_stale_groups(groups, accepted, lambda ids: self._stored_versions(cursor, ids))
                    if refreshed == accepted:
                        raise
                except BaseException:
                    connection.rollback()
                    raise
            accepted = refreshed
        return accepted

    def _stored_versions(self, cursor: Any, ids: list[UUID]) -> dict[UUID, int]:
        rows = self._select_of(
            cursor, f"SELECT originator_id, MAX(originator_version) AS version FROM {self.events_table_name}",
            ids, "GROUP BY originator_id",
        )
        return {UUID(row["originator_id"]): row["version"] for row in rows}

    def select_unfinished_batch_ids(self) -> list[UUID]:
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(select_unfinished(self.events_table_name))
            return [UUID(row["originator_id"]) for row in cursor.fetchall()]

    def select_events_of(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """Every event of these aggregates, each aggregate's in order."""
        with self.datastore.transaction(commit=False) as cursor:
            rows = self._select_of(
                cursor, f"SELECT originator_id, originator_version, topic, state FROM {self.events_table_name}",
                originator_ids, "ORDER BY originator_id, originator_version",
            )
        return [
            StoredEvent(UUID(row["originator_id"]), row["originator_version"], row["topic"], row["state"])
            for row in rows
        ]

    @staticmethod
    def _select_of(cursor: Any, select: str, ids: Sequence[UUID], tail: str) -> list[Any]:
        """``select ... WHERE originator_id IN (ids) tail``, 500 ids a statement (SQLite's
        parameters are limited); each statement's rows are whole for its aggregates."""
        rows: list[Any] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            cursor.execute(f"{select} WHERE originator_id IN ({','.join('?' * len(chunk))}) {tail}", [i.hex for i in chunk])
            rows += cursor.fetchall()
        return rows


class PostgresExternalTaskRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        # The datastore and its pool are shared with the tracking recorder: every connection the
        # engine borrows is covered.
        hand_out_open_connections(self.datastore.pool)
        self.dialect = Dialect("postgres", self.datastore.schema)
        self.runtime_projection = RuntimeProjection(self.dialect)
        self.sql_create_statements.extend(SQL(self.dialect.sql(s)) for s in RUNTIME_TABLES)
        self.sql_create_statements.extend(SQL(s) for s in retire_indexes(self.dialect))
        self.sql_create_statements.extend(SQL(s) for s in storage_settings(self.dialect, RUNTIME_KEYS))
        self.sql_create_statements.append(SQL(commit_function(self.dialect, self.events_table_name)))
        self._events_table = f'"{self.datastore.schema}"."{self.events_table_name}"'
        self.sql_create_statements.append(SQL(create_index(self._events_table)))
        self.sql_create_statements.append(SQL(retire_index(self.datastore.schema)))
        self._commit_channel = CommitChannel(self.datastore.pool, commit_statement(self.dialect))
        self._select_events_of_statement = (
            "SELECT originator_id, originator_version, topic, state "
            f"FROM {self._events_table} "
            "WHERE originator_id = ANY(%s::uuid[]) ORDER BY originator_id, originator_version"
        )
        self._stored_versions_statement = (
            "SELECT originator_id, MAX(originator_version) AS version "
            f"FROM {self._events_table} "
            "WHERE originator_id = ANY(%s) GROUP BY originator_id"
        )

    def _insert_stored_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        # After the events insert, which takes the table lock: all writers queue on that lock
        # first, so their runtime row updates can never deadlock each other.
        super()._insert_stored_events(curs, stored_events, **kwargs)
        # Another cursor, because the library reads the insert's RETURNING rows from this one.
        with curs.connection.cursor() as runtime_cursor:
            self.runtime_projection.write(runtime_cursor, kwargs.get("aggregates", ()))

    def prepare_group(self, events: Sequence[StoredEvent], saved: Sequence[Saved]) -> EventGroup:
        changes = self.runtime_projection.changes(saved)
        return EventGroup(events, [aggregate for aggregate, _ in saved], changes, batch_part(events, changes))

    def insert_event_groups(self, groups: Sequence[EventGroup]) -> list[bool]:
        # One statement (postgres_commit). When an event collides with a stored one, the statement
        # wrote nothing: the stale groups are found from the stored versions and the others sent
        # again, until a statement commits (or no group is left).
        accepted = distinct_groups(groups)
        while any(accepted):
            parts = [group.part for group, ok in zip(groups, accepted) if ok and group.part is not None]
            document = batch_document(parts, self.datastore.lock_timeout)
            with self._commit_channel.connection() as connection:
                try:
                    self._commit_channel.send(connection, document)
                    return accepted
                except psycopg.errors.UniqueViolation:
                    refreshed = without_stale_groups(groups, accepted, lambda ids: self._stored_versions(connection, ids))
                    if refreshed == accepted:
                        raise  # not a stale group: a row the runtime changes should never collide with
                except psycopg.errors.DataError as error:
                    # A value the database refuses (class 22): the group committer finds whose.
                    raise BadRequest(f"The database refused a value: {error.diag.message_primary}") from error
                except psycopg.Error as error:
                    if error.sqlstate == MISSING_TASK_ROW_SQLSTATE:
                        raise MissingTaskRow(error.diag.message_primary or str(error)) from error
                    raise
            accepted = refreshed
        return accepted

    def close_commit_connections(self) -> None:
        self._commit_channel.close()

    def _stored_versions(self, connection: Any, ids: list[UUID]) -> dict[UUID, int]:
        rows = connection.execute(self._stored_versions_statement, (ids,)).fetchall()
        return {row["originator_id"]: row["version"] for row in rows}

    def select_unfinished_batch_ids(self) -> list[UUID]:
        with self.datastore.get_connection() as connection:
            rows = connection.execute(select_unfinished(self._events_table)).fetchall()
        return [row["originator_id"] for row in rows]

    def select_events_of(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """Every event of these aggregates, each aggregate's in order, in one query."""
        # The ids as one array literal: the driver would dump a list of UUIDs one by one.
        ids = "{" + ",".join(str(originator_id) for originator_id in originator_ids) + "}"
        with self.datastore.get_connection() as connection:
            rows = connection.execute(self._select_events_of_statement, (ids,), prepare=True).fetchall()
        return [
            StoredEvent(row["originator_id"], row["originator_version"], row["topic"], bytes(row["state"]))
            for row in rows
        ]


class SQLiteHistoryRecorder(SQLiteTrackingRecorder):
    def __init__(self, datastore: SQLiteDatastore, **kwargs: Any) -> None:
        self.dialect = Dialect("sqlite")
        super().__init__(datastore, **kwargs)

    def construct_create_table_statements(self) -> list[str]:
        return super().construct_create_table_statements() + [
            self.dialect.sql(s) for s in HISTORY_TABLES
        ]


class PostgresHistoryRecorder(PostgresTrackingRecorder):
    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.dialect = Dialect("postgres", self.datastore.schema)
        self.sql_create_statements.extend(SQL(self.dialect.sql(s)) for s in HISTORY_TABLES)
        self.sql_create_statements.extend(SQL(s) for s in storage_settings(self.dialect, HISTORY_KEYS))
