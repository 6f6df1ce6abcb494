"""Connections the PostgreSQL server closed while they sat idle, found without waiting.

A restart of the database (or an idle timeout, or an operator ending server processes) closes
every connection the engine holds, and the library's pool does not check what it hands out. Its
pre-ping would cost a round trip on every checkout, and after a failed check the pool sleeps
(psycopg_pool's backoff starts at one second) before it tries the next connection. Instead, the
pool's ``getconn`` looks at each connection it hands out (one ``poll`` of its socket) and gives
back one the server closed, so that the pool replaces it, and takes the next. The writers' kept connections (``CommitChannel``), which are not
in the pool, are looked at the same way, and so is the queries' own pool (``bounded_reads``).
"""

from __future__ import annotations

import select
from typing import Any

import psycopg
import psycopg_pool
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


def hand_out_open_connections(pool: psycopg_pool.ConnectionPool) -> None:
    """Make the pool pass over connections the server closed, for everything that borrows from it
    (on the event store's pool: the library's reads and writes, fetch-and-lock's reads, the
    history projection, the writers; on the queries' own pool: the operators' queries).
    Idempotent."""
    if getattr(pool, "_hands_out_open_connections", False):
        return
    get_connection = pool.getconn

    def get_open_connection(timeout: float | None = None) -> Any:
        # Every idle connection of the pool may have been closed, and then one more is made.
        for _ in range(pool.max_size + 1):
            connection = get_connection(timeout)
            if still_open(connection):
                return connection
            pool.putconn(connection)  # the pool replaces a closed connection it gets back
        raise psycopg.OperationalError("no open connection to the database could be had from the pool")

    pool.getconn = get_open_connection  # type: ignore[method-assign]
    pool._hands_out_open_connections = True  # type: ignore[attr-defined]
