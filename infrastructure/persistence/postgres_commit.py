"""A group-committed transaction on PostgreSQL in one statement, so one round trip.

The whole batch travels as one JSON document: the events of every group, and the runtime changes
of all of them. A function in the database takes the event store's write lock, inserts the events
and applies the runtime changes, in the statement's own transaction. An event that collides with
a stored one (its command decided on stale state) fails the statement, which then wrote nothing;
the recorder finds out which groups are stale and sends the others again. That is rare: only
another server process writes the same aggregates.

Why a document rather than array parameters: the driver dumps list elements one by one in Python,
which cost more than the whole transaction; one text parameter costs next to nothing, and the
database reads JSON in C. Why one statement: every round trip more is a wait under the write lock,
which every writer in every server process queues on.

Why the writers send it on connections of their own, in one libpq call (``CommitChannel``): each
time a thread lets go of the interpreter lock for I/O, it waits to get it back behind the threads
deciding the next commands. The driver's ``execute`` lets go several times a transaction (and runs
its own Python between), and so does borrowing a connection from the pool; libpq's
``PQexecPrepared`` sends, waits and reads the answer while letting go once.
"""

from __future__ import annotations

import base64
import hashlib
import queue
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import orjson
import psycopg
import psycopg_pool
from eventsourcing.persistence import StoredEvent
from psycopg import pq

from extask.application.errors import BadRequest
from extask.infrastructure.persistence.postgres_connections import still_open
from extask.infrastructure.persistence.runtime_projection import (
    DELETION_KEYS,
    LOCK_COLUMNS,
    RUNTIME_COLUMNS,
    RuntimeChanges,
)
from extask.infrastructure.persistence.runtime_tables import RUNTIME_KEYS
from extask.infrastructure.persistence.sql import Dialect

# Versioned: server processes of different versions on one schema each call the function that
# reads their documents (version 2 added the lock-only updates).
FUNCTION_NAME = "extask_commit_groups_v2"
# Raised by the function when a lock change finds no task row (runtime_projection.MissingTaskRow).
MISSING_TASK_ROW_SQLSTATE = "EX001"
# U+0000 as JSON writes it: escaped, and not itself the tail of an escaped backslash.
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
_LOCK_COLUMN_TYPES = {"worker_id": "text", "lock_expiration_time": "bigint", "version": "integer"}


def commit_function(dialect: Dialect, events_table: str) -> str:
    """The DDL of ``extask_commit_groups_v2(batch jsonb)``."""
    events = f'"{dialect.schema}"."{events_table}"'
    groups = "jsonb_array_elements(batch->'groups') g"
    deletions = "\n".join(
        f"    IF batch->'delete' ? '{table}' THEN\n"
        f"        DELETE FROM {dialect.table(table)} WHERE {column} = ANY(ARRAY(\n"
        f"            SELECT jsonb_array_elements_text(g->'d'->'{table}') FROM {groups}));\n"
        "    END IF;"
        for table, column in DELETION_KEYS.items()
    )
    upserts = "\n".join(
        f"    IF batch->'rows' ? '{table}' THEN\n"
        f"        INSERT INTO {dialect.table(table)} SELECT r.*\n"
        f"            FROM {groups}, jsonb_array_elements(g->'r'->'{table}') x,\n"
        f"                 jsonb_populate_record(NULL::{dialect.table(table)}, x) r\n"
        f"            ON CONFLICT ({', '.join(RUNTIME_KEYS[table])}) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in columns if c not in RUNTIME_KEYS[table])
        + ";\n    END IF;"
        for table, columns in RUNTIME_COLUMNS.items()
    )
    assignments = ", ".join(
        f"{column} = (l.x->>{index})::{_LOCK_COLUMN_TYPES[column]}" for index, column in enumerate(LOCK_COLUMNS) if index
    )
    locks = (
        "    IF (batch->>'locks')::integer > 0 THEN\n"
        f"        UPDATE {dialect.table('ext_task')} t SET {assignments}\n"
        f"            FROM (SELECT x FROM {groups}, jsonb_array_elements(g->'l') x) l\n"
        # The ids as an array too: the planner then looks the rows up by key, where the join
        # alone (it expects 10,000 lock changes) has it scan the whole table.
        "            WHERE t.id = l.x->>0 AND t.id = ANY(ARRAY(\n"
        f"                SELECT y->>0 FROM {groups}, jsonb_array_elements(g->'l') y));\n"
        "        GET DIAGNOSTICS updated = ROW_COUNT;\n"
        "        IF updated <> (batch->>'locks')::integer THEN\n"
        "            RAISE EXCEPTION 'extask: % lock changes found % task rows', batch->>'locks', updated\n"
        f"                USING ERRCODE = '{MISSING_TASK_ROW_SQLSTATE}';\n"
        "        END IF;\n"
        "    END IF;"
    )
    # Events are inserted in the document's order: it is the order of their notification ids.
    # Every statement finds its rows by key. The function's plans are made once per connection,
    # while the tables may still be nearly empty and never analysed, and then kept: left free to
    # choose, the planner would settle on scanning tables that grow for good. With sequential
    # scans off, each plan it keeps walks an index, however small the table was.
    return f"""
CREATE OR REPLACE FUNCTION "{dialect.schema}".{FUNCTION_NAME}(batch jsonb) RETURNS void
LANGUAGE plpgsql SET enable_seqscan = off AS $body$
DECLARE
    updated integer;
BEGIN
    PERFORM set_config('lock_timeout', batch->>'lock_timeout', true);
    LOCK TABLE {events} IN EXCLUSIVE MODE;
    INSERT INTO {events} (originator_id, originator_version, topic, state)
        SELECT (e->>0)::uuid, (e->>1)::bigint, e->>2, decode(e->>3, 'base64')
        FROM jsonb_array_elements(batch->'groups') WITH ORDINALITY AS g(doc, gn),
             jsonb_array_elements(g.doc->'e') WITH ORDINALITY AS x(e, n)
        ORDER BY gn, n;
{deletions}
{upserts}
{locks}
END
$body$"""


def commit_statement(dialect: Dialect) -> str:
    return f'SELECT "{dialect.schema}".{FUNCTION_NAME}($1::jsonb)'


class CommitChannel:
    """The connections the group commit sends its documents on: each taken from the library's pool
    once and kept until ``close``, with the commit statement prepared on it, and each document
    sent with one libpq call. A connection found closed or broken goes back to the pool, which
    replaces it."""

    def __init__(self, pool: psycopg_pool.ConnectionPool, statement: str) -> None:
        self._pool = pool
        self._statement = statement.encode()
        # Named after its text: a connection that has it prepared has this very statement.
        self._name = b"extask_commit_" + hashlib.sha1(self._statement).hexdigest()[:16].encode()
        self._idle: queue.SimpleQueue[psycopg.Connection] = queue.SimpleQueue()
        self._closed = False

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A connection for one writer's transaction (and what it reads after a collision)."""
        connection = self._take()
        try:
            yield connection
        finally:
            pgconn = connection.pgconn
            idle = pgconn.status == pq.ConnStatus.OK and pgconn.transaction_status == pq.TransactionStatus.IDLE
            if idle and not self._closed:
                self._idle.put(connection)
            else:
                self._pool.putconn(connection)  # the pool rolls back, replaces or closes it

    def send(self, connection: psycopg.Connection, document: str) -> None:
        """Run the commit function on ``document``; raises what the database answered, as the
        driver's own classes (``UniqueViolation`` ...)."""
        result = connection.pgconn.exec_prepared(self._name, [document.encode(_codec(connection))])
        if result.status != pq.ExecStatus.TUPLES_OK:
            raise _error(connection, result)

    def close(self) -> None:
        """Give every kept connection back to the pool (before the pool is closed)."""
        self._closed = True
        while True:
            try:
                connection = self._idle.get_nowait()
            except queue.Empty:
                return
            self._pool.putconn(connection)

    def _take(self) -> psycopg.Connection:
        """A kept connection still open, or else a new one from the pool (which passes over the
        closed ones it holds: ``postgres_connections``), with the statement prepared on it."""
        while True:
            try:
                connection = self._idle.get_nowait()
            except queue.Empty:
                break
            if still_open(connection):
                return connection
            self._pool.putconn(connection)
        self._pool.open()  # the library opens its pool on first use; a no-op once open
        return self._prepared(self._pool.getconn())

    def _prepared(self, connection: psycopg.Connection) -> psycopg.Connection:
        try:
            result = connection.pgconn.prepare(self._name, self._statement)
            # One the pool rolled back and kept has the statement already.
            already_prepared = result.error_field(pq.DiagnosticField.SQLSTATE) == b"42P05"
            if result.status != pq.ExecStatus.COMMAND_OK and not already_prepared:
                raise _error(connection, result)
        except BaseException:
            self._pool.putconn(connection)
            raise
        return connection


def _codec(connection: psycopg.Connection) -> str:
    # As the driver's own text parameters: UTF-8 to a server that takes any bytes (SQL_ASCII).
    codec = connection.info.encoding
    return "utf-8" if codec == "ascii" else codec


def _error(connection: psycopg.Connection, result: pq.abc.PGresult) -> psycopg.Error:
    if connection.pgconn.status != pq.ConnStatus.OK:
        message = result.error_message.decode(errors="replace").strip()
        return psycopg.OperationalError(f"the connection to the database was lost: {message}")
    return psycopg.errors.error_from_result(result, encoding=_codec(connection))


@dataclass
class BatchPart:
    """One group's share of the batch document: a JSON object with its events (``e``), its
    deletions (``d``, by table) and its rows (``r``, by table), and which tables those touch. The
    writer only joins the parts."""

    json: str
    deletes: frozenset[str]
    writes: frozenset[str]
    locks: int = 0  # how many lock changes


def batch_part(events: Sequence[StoredEvent], changes: RuntimeChanges) -> BatchPart:
    """Events as ``[id, version, topic, state]`` (the state in base64, byte for byte), runtime
    rows as objects keyed by column, lock changes (``l``) as ``[id, worker, expiry, version]``."""
    deletions = {table: keys for table, keys in changes.deletions.items() if keys}
    rows = {
        table: [dict(zip(RUNTIME_COLUMNS[table], row)) for row in table_rows]
        for table, table_rows in changes.rows.items()
        if table_rows
    }
    document = {
        "e": [
            [str(e.originator_id), e.originator_version, e.topic, base64.b64encode(e.state).decode("ascii")]
            for e in events
        ],
        "d": deletions,
        "r": rows,
        "l": changes.locks,
    }
    # Variables are refused NaN and infinities before they get here (orjson would write null).
    encoded = orjson.dumps(document).decode()
    if "\\u0000" in encoded and _JSON_NUL.search(encoded):
        # PostgreSQL's text (and jsonb) cannot hold it; the stored event, bytes, could.
        raise BadRequest("PostgreSQL cannot store the character U+0000 (NUL) in text; it was found in the request's values")
    return BatchPart(encoded, frozenset(deletions), frozenset(rows), len(changes.locks))


def batch_document(parts: Sequence[BatchPart], lock_timeout_seconds: int) -> str:
    """The JSON document the function reads, joined from the groups' parts."""
    deletes = sorted(frozenset().union(*(part.deletes for part in parts)))
    writes = sorted(frozenset().union(*(part.writes for part in parts)))
    return (
        f'{{"lock_timeout":"{lock_timeout_seconds}s","delete":{orjson.dumps(deletes).decode()},'
        f'"rows":{orjson.dumps(writes).decode()},"locks":{sum(part.locks for part in parts)},'
        f'"groups":[{",".join(part.json for part in parts)}]}}'
    )
