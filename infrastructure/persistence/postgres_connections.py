"""Connections the PostgreSQL server closed while they sat idle, found without waiting.

A restart of the database (or an idle timeout, or an operator ending server processes) closes
every connection the engine holds, and the library's pool does not check what it hands out: its
pre-ping costs a round trip on every checkout, and a failed check makes the pool sleep a second
or more before it tries the next connection. Instead, a connection is looked at (one ``poll`` of
its socket) each time it is handed out, and one the server closed is given back, so that the pool
replaces it, and the next is taken. The writers' kept connections (``CommitChannel``) are looked
at the same way.
"""

from __future__ import annotations

import select
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any

import psycopg
from eventsourcing.postgres import PostgresDatastore
from psycopg import pq


def still_open(connection: psycopg.Connection) -> bool:
    """Whether the server still holds the connection open, found without waiting: an idle
    connection has nothing to read unless the server sent something unasked, such as its goodbye
    and then the end of the connection. One that breaks later fails the statement sent on it."""
    pgconn = connection.pgconn
    try:
        for _ in range(4):  # a goodbye, then the end: more would be a server talking, not leaving
            if pgconn.status != pq.ConnStatus.OK or not _readable(pgconn.socket):
                break
            pgconn.consume_input()  # libpq reports the end as an error
    except psycopg.OperationalError:
        return False
    return pgconn.status == pq.ConnStatus.OK


def _readable(socket: int) -> bool:
    """Whether the socket has something to read, without waiting."""
    if not hasattr(select, "poll"):  # Windows, whose select takes any socket
        return bool(select.select([socket], [], [], 0)[0])
    poller = select.poll()
    poller.register(socket, select.POLLIN)
    return bool(poller.poll(0))


def hand_out_open_connections(datastore: PostgresDatastore) -> None:
    """Make every read and write through ``datastore.get_connection`` (the library's own, the read
    models', the history projection's) pass over connections the server closed. Idempotent."""
    if getattr(datastore, "_hands_out_open_connections", False):
        return
    datastore.get_connection = _open_connections(datastore.get_connection, datastore.pool.max_size)  # type: ignore[method-assign]
    datastore._hands_out_open_connections = True  # type: ignore[attr-defined]


def _open_connections(
    get_connection: Callable[[], AbstractContextManager[Any]], max_size: int
) -> Callable[[], AbstractContextManager[Any]]:
    @contextmanager
    def open_connection() -> Iterator[Any]:
        # Every idle connection of the pool may have been closed, and then one more is made.
        for _ in range(max_size + 1):
            stack = ExitStack()
            connection = stack.enter_context(get_connection())
            if still_open(connection):
                break
            stack.close()  # the pool replaces a closed connection it gets back
        else:
            raise psycopg.OperationalError("no open connection to the database could be had from the pool")
        with stack:
            yield connection

    return open_connection
