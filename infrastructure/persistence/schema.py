"""Creates extask's tables on first start, safely when several server processes start at once.

PostgreSQL refuses concurrent catalog changes of the same objects ("tuple concurrently updated"),
so on PostgreSQL the creation runs under an advisory lock; SQLite serialises DDL by itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

from extask.infrastructure.persistence.database import DatabaseSettings

SCHEMA_LOCK_KEY = 0x65787461736B  # "extask": one lock for every schema's creation


def create_tables(settings: DatabaseSettings, recorders: Iterable[Any]) -> None:
    if settings.dialect != "postgres":
        for recorder in recorders:
            recorder.create_table()
        return
    with psycopg.connect(settings.admin_url, autocommit=True) as connection:
        connection.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
        try:
            for recorder in recorders:
                recorder.create_table()
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))
