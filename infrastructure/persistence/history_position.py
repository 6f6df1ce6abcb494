"""How far the history projection has got in the event store, and the lock its writers share.

The position is the library's tracking row for the projection. Catching up and replay's swap both
take the lock, then read the position inside their transaction, so a batch decided on a position
that someone else has since moved is abandoned instead of being applied twice.
"""

from __future__ import annotations

from typing import Any

from extask.infrastructure.persistence.sql import Dialect

PROJECTION_NAME = "history"


class HistoryPosition:
    def __init__(self, dialect: Dialect, tracking_table: str) -> None:
        self._dialect = Dialect(dialect.name, dialect.schema)  # the tracking table is never suffixed
        self._table = self._dialect.table(tracking_table)

    def lock(self, cursor: Any) -> None:
        """Wait for the history writers' lock, held until the transaction ends (PostgreSQL; SQLite
        serialises writers with its database lock)."""
        if self._dialect.name == "postgres":
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"extask history {self._dialect.schema}",)
            )

    def read(self, cursor: Any) -> int:
        cursor.execute(
            self._dialect.sql(f"SELECT notification_id FROM {self._table} WHERE application_name = ?"),
            (PROJECTION_NAME,),
        )
        row = cursor.fetchone()
        return (row["notification_id"] if row is not None else None) or 0

    def write(self, cursor: Any, position: int) -> None:
        cursor.execute(
            self._dialect.sql(
                f"INSERT INTO {self._table} (application_name, notification_id) VALUES (?, ?) "
                "ON CONFLICT (application_name) DO UPDATE SET notification_id = excluded.notification_id"
            ),
            (PROJECTION_NAME, position),
        )
