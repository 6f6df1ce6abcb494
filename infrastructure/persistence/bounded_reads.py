"""Reads of the read models that cannot run forever, and queries that cannot starve the commits.

Two kinds of reads, each with connections of its own on PostgreSQL:

- **The worker path** (fetch-and-lock's candidates, the variables of its answer, what a long poll
  waits for): few, small, keyed reads on the event store's pool, beside the commits they precede.
  Each runs in a transaction whose first statement sets ``statement_timeout`` (for fetch-and-lock's
  keyed reads in the statement that turns sequential scans off, so at no extra round trip).
- **Queries** (task lists and counts, incidents, process instances, the history log, historic
  incidents): any operator or auditor may ask one that is slow. They run on a small pool of their
  own (``QUERY_POOL_SIZE`` connections a server process), each connection with
  ``statement_timeout`` set, so however many arrive at once the commit path keeps its
  connections, and none runs longer than ``Limits.query_seconds``.

Both turn PostgreSQL's JIT compilation off: it compiles a plan whose estimated cost is high, which
a query with many conditions (or a fetch with sequential scans turned off) has, and then spends
more time compiling (1.8 s for a count with 50 conditions) than the query takes to run.

A read stopped by its time limit is a ``QueryTimedOut`` (400, naming ``query_seconds``); a query
that finds every connection of its pool busy for ``QUERY_CONNECTION_WAIT_SECONDS`` is a
``QueriesBusy`` (Camunda's ``ProcessEngineException``, "try again later": an ``Unavailable``,
which the REST layer answers 503 with ``Retry-After``). On SQLite both kinds
read on the library's connections, and a progress handler stops a statement past its deadline.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import psycopg
import psycopg_pool
from psycopg.rows import dict_row

from extask.application.errors import BadRequest, Unavailable
from extask.infrastructure.persistence.database import DatabaseSettings
from extask.infrastructure.persistence.postgres_connections import hand_out_open_connections

# Connections of the query pool in one server process: enough for a few operators' screens at
# once, few enough that they cannot take the database's memory and cores from the commits.
QUERY_POOL_SIZE = 4
# How long a query waits for one of them before it is refused: a query waiting holds a thread of
# the server, which creates and fetches need too.
QUERY_CONNECTION_WAIT_SECONDS = 5.0
# SQLite calls the deadline check every so many virtual machine instructions (well under 1 ms).
_SQLITE_CHECK_EVERY = 10_000


class QueryTimedOut(BadRequest):
    """A read ran longer than ``Limits.query_seconds`` and was stopped."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"The query was stopped after {seconds:g} s, the limit of query_seconds; "
            "ask for less (more selective filters, fewer conditions, a smaller page)"
        )


class QueriesBusy(Unavailable):
    """Every connection for queries stayed busy too long; nothing was read."""

    camunda_type = "ProcessEngineException"

    def __init__(self, connections: int, waited: float) -> None:
        super().__init__(
            f"Too many queries at once: none of the {connections} connections for queries "
            f"was free within {waited:g} s; try again later"
        )


class Reads(Protocol):
    def rows(self, statement: str, params: tuple[Any, ...], *, keyed: bool = False) -> list[Any]:
        """The rows of one statement in the backend's SQL. ``keyed``: a statement that must find
        its rows by key or walk an index in its order (``SqlRuntimeReadModel._select``)."""

    def close(self) -> None: ...


def bounded_reads(settings: DatabaseSettings, datastore: Any, seconds: float) -> tuple[Reads, Reads]:
    """(the worker path's reads, the queries' reads) for the event store's ``datastore``, each
    statement stopped after ``seconds``."""
    if settings.dialect == "postgres":
        return PostgresWorkerReads(datastore, seconds), PostgresQueryPool(settings, seconds)
    reads = SqliteReads(datastore, seconds)
    return reads, reads


# -- PostgreSQL ---------------------------------------------------------------------------------

# Scans that read a whole table, or every match before sorting, are off for a keyed statement:
# see SqlRuntimeReadModel._select.
_KEYED_PLANS_ONLY = ", set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true)"


class PostgresWorkerReads:
    """The worker path's reads, on the event store's pool, each in a transaction of its own with
    ``statement_timeout`` set for it."""

    def __init__(self, datastore: Any, seconds: float) -> None:
        self._datastore = datastore
        self._seconds = seconds
        settings = (
            f"SELECT set_config('statement_timeout', '{_milliseconds(seconds)}', true), set_config('jit', 'off', true)"
        )
        self._settings = {False: settings, True: settings + _KEYED_PLANS_ONLY}

    def rows(self, statement: str, params: tuple[Any, ...], *, keyed: bool = False) -> list[Any]:
        with self._datastore.get_connection() as connection, _stopped_after(self._seconds):
            with connection.transaction():
                connection.execute(self._settings[keyed])
                return connection.execute(statement, params).fetchall()

    def close(self) -> None:
        """The event store closes its pool."""


class PostgresQueryPool:
    """The queries' own connections, ``statement_timeout`` set on each when it is made. Opened on
    the first query, all of them at once (a burst of queries finds them made); connections the
    server closed are passed over, as on the event store's pool."""

    def __init__(
        self, settings: DatabaseSettings, seconds: float, *, size: int = QUERY_POOL_SIZE, wait: float | None = None
    ) -> None:
        env = settings.library_env
        self._seconds = seconds
        self._size = size
        self._wait = QUERY_CONNECTION_WAIT_SECONDS if wait is None else wait
        set_timeout = f"SET statement_timeout = {_milliseconds(seconds)}"

        def configure(connection: psycopg.Connection) -> None:
            connection.autocommit = True
            connection.execute(set_timeout)
            connection.execute("SET jit = off")

        self._pool = psycopg_pool.ConnectionPool(
            kwargs={
                "dbname": env["POSTGRES_DBNAME"], "host": env["POSTGRES_HOST"], "port": env["POSTGRES_PORT"],
                "user": env["POSTGRES_USER"], "password": env["POSTGRES_PASSWORD"],
                "connect_timeout": int(float(env.get("POSTGRES_CONNECT_TIMEOUT", "5"))),
                "application_name": "extask queries", "row_factory": dict_row,
            },
            min_size=size, max_size=size, open=False, configure=configure, timeout=self._wait, name="extask-queries",
        )
        hand_out_open_connections(self._pool)

    def open(self, wait: bool = False) -> None:
        """Open the connections (a no-op once open); ``wait``: until all of them are made."""
        self._pool.open()
        if wait:
            self._pool.wait()

    def rows(self, statement: str, params: tuple[Any, ...], *, keyed: bool = False) -> list[Any]:
        self.open()
        try:
            with self._pool.connection() as connection, _stopped_after(self._seconds):
                return connection.execute(statement, params).fetchall()
        except psycopg_pool.PoolTimeout:
            raise QueriesBusy(self._size, self._wait) from None

    def close(self) -> None:
        self._pool.close()


@contextmanager
def _stopped_after(seconds: float) -> Iterator[None]:
    """A statement cancelled by ``statement_timeout`` as a QueryTimedOut."""
    try:
        yield
    except psycopg.errors.QueryCanceled as error:
        if "statement timeout" not in (error.diag.message_primary or ""):
            raise  # cancelled by someone (pg_cancel_backend), not by the limit
        raise QueryTimedOut(seconds) from None


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


# -- SQLite -------------------------------------------------------------------------------------


class SqliteReads:
    """Reads on the library's SQLite connections, each statement interrupted past its deadline."""

    def __init__(self, datastore: Any, seconds: float) -> None:
        self._datastore = datastore
        self._seconds = seconds

    def rows(self, statement: str, params: tuple[Any, ...], *, keyed: bool = False) -> list[Any]:
        with self._datastore.transaction(commit=False) as cursor:
            connection = cursor.sqlite_cursor.connection
            deadline = time.monotonic() + self._seconds
            # SQLite steps the statement as its rows are fetched: the handler covers the fetch too.
            connection.set_progress_handler(lambda: time.monotonic() > deadline, _SQLITE_CHECK_EVERY)
            try:
                cursor.execute(statement, params)
                return cursor.fetchall()
            except sqlite3.OperationalError as error:
                if getattr(error, "sqlite_errorname", "") == "SQLITE_INTERRUPT" and time.monotonic() > deadline:
                    raise QueryTimedOut(self._seconds) from None
                raise
            finally:
                connection.set_progress_handler(None, _SQLITE_CHECK_EVERY)

    def close(self) -> None:
        """The event store closes its connections."""
