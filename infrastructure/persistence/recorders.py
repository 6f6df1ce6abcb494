"""The library's recorders, extended with extask's read-model tables.

The application recorders write the runtime read model in the same transaction as the events
(the insert hook); the tracking recorders own the history tables, so history rows and the
projection's position commit together (exactly-once). The library is told to use these classes
by topic in ``database.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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


class PostgresExternalTaskRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.dialect = Dialect("postgres", self.datastore.schema)
        self.runtime_projection = RuntimeProjection(self.dialect)
        self.sql_create_statements.extend(SQL(self.dialect.sql(s)) for s in RUNTIME_TABLES)

    def _insert_stored_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        # After the events insert, which takes the table lock: all writers queue on that lock
        # first, so their runtime row updates can never deadlock each other.
        super()._insert_stored_events(curs, stored_events, **kwargs)
        # Another cursor, because the library reads the insert's RETURNING rows from this one.
        with curs.connection.cursor() as runtime_cursor:
            self.runtime_projection.write(runtime_cursor, kwargs.get("aggregates", ()))


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
