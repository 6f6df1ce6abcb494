"""The library's recorders, extended with extask's read-model tables and group commit.

The application recorders write the runtime read model in the same transaction as the events
(the insert hook), and insert many commands' events in one transaction (``insert_event_groups``):
under the event store's write lock they check each group's versions against the stored ones, so a
group that lost to a concurrent writer is refused alone while the others commit. The tracking
recorders own the history tables, so history rows and the projection's position commit together
(exactly-once). The library is told to use these classes by topic in ``database.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

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

from infrastructure.persistence.history_tables import HISTORY_TABLES
from infrastructure.persistence.runtime_projection import RuntimeProjection
from infrastructure.persistence.runtime_tables import RUNTIME_TABLES
from infrastructure.persistence.sql import Dialect

EventGroup = tuple[Sequence[StoredEvent], Sequence[Any]]  # (stored events, the aggregates they came from)


def accepted_groups(groups: Sequence[EventGroup], stored_versions: dict[UUID, int]) -> list[bool]:
    """Which groups continue their aggregates' stored history exactly (in order, within the batch too)."""
    next_version = {originator_id: version + 1 for originator_id, version in stored_versions.items()}
    accepted = []
    for stored_events, _ in groups:
        expected = dict(next_version)
        ok = True
        for event in stored_events:
            if event.originator_version != expected.get(event.originator_id, 1):
                ok = False
                break
            expected[event.originator_id] = event.originator_version + 1
        if ok:
            next_version = expected
        accepted.append(ok)
    return accepted


def distinct_groups(groups: Sequence[EventGroup]) -> list[bool]:
    """Refuse a group that writes an event an earlier group of the same batch already writes."""
    claimed: set[tuple[UUID, int]] = set()
    distinct = []
    for stored_events, _ in groups:
        keys = {(event.originator_id, event.originator_version) for event in stored_events}
        ok = not (keys & claimed)
        if ok:
            claimed |= keys
        distinct.append(ok)
    return distinct


def _ids(groups: Sequence[EventGroup]) -> list[UUID]:
    return list({event.originator_id for stored_events, _ in groups for event in stored_events})


def _aggregates(groups: Sequence[EventGroup], accepted: Sequence[bool]) -> list[Any]:
    return [aggregate for (_, aggregates), ok in zip(groups, accepted) if ok for aggregate in aggregates]


class SQLiteExternalTaskRecorder(SQLiteApplicationRecorder):
    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events") -> None:
        self.dialect = Dialect("sqlite")
        self.runtime_projection = RuntimeProjection(self.dialect)
        super().__init__(datastore, events_table_name)

    def construct_create_table_statements(self) -> list[str]:
        return super().construct_create_table_statements() + [
            self.dialect.sql(s) for s in RUNTIME_TABLES
        ]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._insert_events(c, stored_events, **kwargs)
        self.runtime_projection.write(c, kwargs.get("aggregates", ()))
        return notification_ids

    def insert_event_groups(self, groups: Sequence[EventGroup]) -> list[bool]:
        with self.datastore.get_connection(commit=True) as connection:
            cursor = connection.cursor()
            # IMMEDIATE takes the write lock before the version check, not at the first insert.
            cursor.execute("BEGIN IMMEDIATE")
            try:
                ids = _ids(groups)
                stored_versions: dict[UUID, int] = {}
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    cursor.execute(
                        f"SELECT originator_id, MAX(originator_version) AS version FROM {self.events_table_name} "
                        f"WHERE originator_id IN ({','.join('?' * len(chunk))}) GROUP BY originator_id",
                        [i.hex for i in chunk],
                    )
                    stored_versions.update({UUID(r["originator_id"]): r["version"] for r in cursor.fetchall()})
                accepted = accepted_groups(groups, stored_versions)
                events = [e for (stored, _), ok in zip(groups, accepted) if ok for e in stored]
                self._insert_events(cursor, events, aggregates=_aggregates(groups, accepted))
                connection.commit()
            except BaseException:
                connection.rollback()
                raise
        return accepted


class PostgresExternalTaskRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.dialect = Dialect("postgres", self.datastore.schema)
        self.runtime_projection = RuntimeProjection(self.dialect)
        self.sql_create_statements.extend(SQL(self.dialect.sql(s)) for s in RUNTIME_TABLES)
        table = f'"{self.datastore.schema}"."{self.events_table_name}"'
        self._insert_new_events_statement = (
            f"INSERT INTO {table} (originator_id, originator_version, topic, state) "
            "SELECT originator_id, originator_version, topic, state "
            f'FROM unnest(%s::"{self.datastore.schema}"."{self.stored_event_type_name}"[]) '
            "ON CONFLICT DO NOTHING RETURNING originator_id, originator_version"
        )
        self._delete_events_statement = (
            f"DELETE FROM {table} WHERE (originator_id, originator_version) IN "
            "(SELECT * FROM unnest(%s::uuid[], %s::bigint[]))"
        )

    def _insert_stored_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        # After the events insert, which takes the table lock: all writers queue on that lock
        # first, so their runtime row updates can never deadlock each other.
        super()._insert_stored_events(curs, stored_events, **kwargs)
        # Another cursor, because the library reads the insert's RETURNING rows from this one.
        with curs.connection.cursor() as runtime_cursor:
            self.runtime_projection.write(runtime_cursor, kwargs.get("aggregates", ()))

    def insert_event_groups(self, groups: Sequence[EventGroup]) -> list[bool]:
        # An event's version is its aggregate's loaded version + 1, so a decision made on stale
        # state always collides with a stored event and never leaves a gap: the insert itself is
        # the version check. Pipelined, the transaction costs two round trips.
        candidates = distinct_groups(groups)
        with self.datastore.get_connection() as connection:
            with connection.pipeline(), connection.transaction(), connection.cursor() as cursor:
                self._lock_table(cursor)
                events = [e for (stored, _), ok in zip(groups, candidates) if ok for e in stored]
                cursor.execute(
                    self._insert_new_events_statement,
                    ([self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state) for e in events],),
                    prepare=True,
                )
                inserted = {(row["originator_id"], row["originator_version"]) for row in cursor.fetchall()}
                accepted = [
                    ok and all((e.originator_id, e.originator_version) in inserted for e in stored)
                    for (stored, _), ok in zip(groups, candidates)
                ]
                # A refused group may have had some of its events inserted (another aggregate's).
                orphans = [
                    e for (stored, _), ok, was in zip(groups, accepted, candidates) if was and not ok for e in stored
                    if (e.originator_id, e.originator_version) in inserted
                ]
                if orphans:
                    cursor.execute(
                        self._delete_events_statement,
                        ([e.originator_id for e in orphans], [e.originator_version for e in orphans]),
                    )
                self.runtime_projection.write(cursor, _aggregates(groups, accepted))
        return accepted


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
