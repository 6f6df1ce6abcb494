"""SQL run on an engine's own database connection, for tests that look at (or change) the tables
behind extask's back. Statements use ``{table}`` names and ``?`` placeholders, as extask's do."""

from __future__ import annotations

from typing import Any

from extask.infrastructure.persistence.database import settings_from_url
from extask.infrastructure.persistence.sql import Dialect, execute


def run_sql(engine: Any, database_url: str, statement: str, params: Any = ()) -> list:
    """Run one statement in a transaction of its own; a SELECT answers its rows."""
    settings = settings_from_url(database_url)
    with engine.event_store.recorder.datastore.transaction(commit=True) as cursor:
        execute(cursor, Dialect(settings.dialect, settings.schema), statement, params)
        return cursor.fetchall() if statement.lstrip().upper().startswith("SELECT") else []
