"""The few differences between SQLite and PostgreSQL SQL that the read models care about.

Statements are written once with ``?`` placeholders, ``{table}`` names and, in DDL, ``{@index}``
names; the dialect turns them into what the backend's driver expects. A dialect with a suffix names
another set of the same tables (``ext_task_replay`` ...), which is how replay builds fresh read
models beside the live ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

_TABLE = re.compile(r"\{(\w+)\}")
_INDEX = re.compile(r"\{@(\w+)\}")


@dataclass(frozen=True)
class Dialect:
    name: str  # "sqlite" or "postgres"
    schema: str | None = None
    suffix: str = ""  # appended to every table and index name

    def table(self, name: str) -> str:
        """A table's name as statements use it: schema-qualified on PostgreSQL."""
        return self._qualified(name)

    def index(self, name: str) -> str:
        """An index's name as DROP INDEX needs it: schema-qualified on PostgreSQL."""
        return self._qualified(name)

    def _qualified(self, name: str) -> str:
        if self.name == "postgres":
            return f'"{self.schema}"."{name}{self.suffix}"'
        return f"{name}{self.suffix}"

    def sql(self, statement: str) -> str:
        """Name ``{table}`` and ``{@index}`` for this dialect and use the driver's placeholder."""
        # An index lives in its table's schema, so CREATE INDEX never qualifies its name.
        statement = _INDEX.sub(lambda m: f"{m.group(1)}{self.suffix}", statement)
        statement = _TABLE.sub(lambda m: self.table(m.group(1)), statement)
        return statement.replace("?", "%s") if self.name == "postgres" else statement


def execute(cursor: Any, dialect: Dialect, statement: str, params: Any = ()) -> None:
    cursor.execute(dialect.sql(statement), params)


def executemany(cursor: Any, dialect: Dialect, statement: str, rows: list[Any]) -> None:
    if rows:
        cursor.executemany(dialect.sql(statement), rows)


def changed_rows(cursor: Any) -> int:
    """How many rows the last ``execute`` or ``executemany`` changed (the library's SQLite cursor
    wraps the driver's, which knows)."""
    return getattr(cursor, "sqlite_cursor", cursor).rowcount


def delete_where_in(cursor: Any, dialect: Dialect, table: str, column: str, values: list[Any]) -> None:
    """Delete the rows whose ``column`` is one of ``values``, in one statement where the driver allows."""
    if not values:
        return
    if dialect.name == "postgres":
        cursor.execute(dialect.sql(f"DELETE FROM {{{table}}} WHERE {column} = ANY(?)"), (list(values),))
    else:
        cursor.executemany(dialect.sql(f"DELETE FROM {{{table}}} WHERE {column} = ?"), [(v,) for v in values])


def one_of(dialect: Dialect, column: str, values: Sequence[Any]) -> tuple[str, Any]:
    """``column`` is one of ``values``, as SQL with ONE parameter and that parameter, so any number
    of values fits (PostgreSQL takes at most 65,535 parameters a statement): an array on
    PostgreSQL, a JSON array on SQLite."""
    if dialect.name == "postgres":
        return f"{column} = ANY(?)", list(values)
    return f"{column} IN (SELECT value FROM json_each(?))", json.dumps(list(values))


def any_of(clauses: Sequence[str]) -> str:
    """The clauses joined by OR, nested in halves: SQLite parses ``a OR b OR c ...`` as a tree as
    deep as it is long, and refuses one deeper than 1,000."""
    if not clauses:
        return "1 = 0"
    if len(clauses) <= 2:
        return " OR ".join(f"({clause})" for clause in clauses)
    middle = len(clauses) // 2
    return f"({any_of(clauses[:middle])}) OR ({any_of(clauses[middle:])})"


def from_epoch_ms(millis: int | None) -> datetime | None:
    if millis is None:
        return None
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=millis)
