"""The few differences between SQLite and PostgreSQL SQL that the read models care about.

Statements are written once with ``?`` placeholders and unqualified table names; the dialect
turns them into what the backend's driver expects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

_TABLE = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Dialect:
    name: str  # "sqlite" or "postgres"
    schema: str | None = None

    def sql(self, statement: str) -> str:
        """Qualify ``{table}`` names with the schema and use the driver's placeholder."""
        if self.name == "postgres":
            statement = _TABLE.sub(lambda m: f'"{self.schema}"."{m.group(1)}"', statement)
            return statement.replace("?", "%s")
        return _TABLE.sub(lambda m: m.group(1), statement)


def execute(cursor: Any, dialect: Dialect, statement: str, params: Any = ()) -> None:
    cursor.execute(dialect.sql(statement), params)


def executemany(cursor: Any, dialect: Dialect, statement: str, rows: list[Any]) -> None:
    if rows:
        cursor.executemany(dialect.sql(statement), rows)


def delete_where_in(cursor: Any, dialect: Dialect, table: str, column: str, values: list[Any]) -> None:
    """Delete the rows whose ``column`` is one of ``values``, in one statement where the driver allows."""
    if not values:
        return
    if dialect.name == "postgres":
        cursor.execute(dialect.sql(f"DELETE FROM {{{table}}} WHERE {column} = ANY(?)"), (list(values),))
    else:
        cursor.executemany(dialect.sql(f"DELETE FROM {{{table}}} WHERE {column} = ?"), [(v,) for v in values])


def in_list(values: list[Any]) -> str:
    return "(" + ",".join("?" * len(values)) + ")"


def from_epoch_ms(millis: int | None) -> datetime | None:
    if millis is None:
        return None
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=millis)
