"""Wake-ups across server processes through PostgreSQL LISTEN/NOTIFY.

``PostgresSignal.notify()`` (called by the service after a commit that may make tasks fetchable)
wakes this process's parked polls at once and asks a sender thread to ``NOTIFY`` the schema's
channel on a small autocommit connection; bursts of commits collapse into one NOTIFY, and the
caller never waits for the database or sees its errors (the commit has already happened).

A listener thread per process holds its own connection in ``LISTEN`` and turns every NOTIFY
from *another* process into an in-process wake-up (each NOTIFY carries its sender's id, so a
process does not wake its polls twice). It waits on the connection's socket (``selectors``):
while nothing happens it runs no queries and sends nothing. It reconnects after a failure (with
backoff) and then wakes every parked poll once, since notifications may have been missed.

The channel is derived from the schema, so servers and tests on separate schemas of one
database never wake each other.
"""

from __future__ import annotations

import hashlib
import logging
import os
import selectors
import threading
import uuid
from collections.abc import Callable

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from extask.infrastructure.notifications import InProcessSignal
from extask.infrastructure.persistence.database import DatabaseSettings

logger = logging.getLogger(__name__)

RECONNECT_DELAYS = (0.05, 5.0)  # first and longest wait before reconnecting
STOP_TIMEOUT_SECONDS = 5.0
MAX_IDENTIFIER_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1


def channel_for(schema: str | None) -> str:
    name = f"extask_{schema or 'public'}"
    if len(name.encode()) <= MAX_IDENTIFIER_BYTES:
        return name
    return "extask_" + hashlib.sha256(name.encode()).hexdigest()[:40]


def conninfo_for(settings: DatabaseSettings) -> str:
    env = settings.library_env
    return make_conninfo(
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        dbname=env["POSTGRES_DBNAME"],
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"] or None,
        connect_timeout=env.get("POSTGRES_CONNECT_TIMEOUT", "5"),
        application_name="extask-notifications",
        # A connection that died silently is noticed within about a minute, then replaced.
        keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3,
    )


def _backoff(delay: float) -> float:
    return min(delay * 2, RECONNECT_DELAYS[1])


class _Sender:
    """Sends one NOTIFY per burst of requests, from a thread of its own (started on first use).
    A request made before ``close`` is still sent."""

    def __init__(self, conninfo: str, channel: str, origin: str) -> None:
        self._conninfo, self._channel, self._origin = conninfo, channel, origin
        self._pending = False
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.sent = 0

    def request(self) -> None:
        self._pending = True
        self._wake.set()
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._closed.is_set():
                    self._thread = threading.Thread(target=self._run, name="extask-notify", daemon=True)
                    self._thread.start()

    def close(self) -> None:
        with self._lock:
            self._closed.set()
            self._wake.set()
            thread = self._thread
        if thread is not None:
            thread.join(STOP_TIMEOUT_SECONDS)

    def _run(self) -> None:
        connection: psycopg.Connection | None = None
        delay = RECONNECT_DELAYS[0]
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._pending:
                    self._pending = False
                    try:
                        if connection is None:
                            connection = psycopg.connect(self._conninfo, autocommit=True)
                        connection.execute("SELECT pg_notify(%s, %s)", (self._channel, self._origin))
                        self.sent += 1
                        delay = RECONNECT_DELAYS[0]
                    except psycopg.Error as error:
                        logger.warning(
                            "could not send NOTIFY %s (retrying in %.2f s): %s", self._channel, delay, error
                        )
                        if connection is not None:
                            connection.close()
                        connection = None
                        if self._closed.is_set():
                            return
                        self._pending = True
                        self._closed.wait(delay)
                        delay = _backoff(delay)
                        self._wake.set()
                        continue
                if self._closed.is_set():
                    return
        finally:
            if connection is not None:
                connection.close()


class _Listener:
    """LISTENs on the channel in a thread of its own; ``on_notify`` is called from that thread."""

    def __init__(self, conninfo: str, channel: str, origin: str, on_notify) -> None:
        self._conninfo, self._channel, self._origin = conninfo, channel, origin
        self._on_notify = on_notify
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop_writer: int | None = None
        self.listening = threading.Event()  # set while a LISTEN connection is up
        self.connections = 0  # LISTEN connections made so far

    def start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive() and self._stop_writer is not None:
                return
            reader, writer = os.pipe()
            self._stop_writer = writer
            self._thread = threading.Thread(
                target=self._run, args=(reader,), name="extask-listen", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        with self._lock:
            thread, writer = self._thread, self._stop_writer
            self._thread = self._stop_writer = None
        if writer is not None:
            try:
                os.write(writer, b"x")
            except OSError:  # the thread has already gone
                pass
            os.close(writer)
        if thread is not None:
            thread.join(STOP_TIMEOUT_SECONDS)

    def _run(self, stop_reader: int) -> None:
        delay = RECONNECT_DELAYS[0]
        with selectors.DefaultSelector() as selector:
            selector.register(stop_reader, selectors.EVENT_READ)
            try:
                while True:
                    try:
                        with psycopg.connect(self._conninfo, autocommit=True) as connection:
                            connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                            self.connections += 1
                            delay = RECONNECT_DELAYS[0]
                            self._on_notify()  # anything committed while we were not listening
                            self.listening.set()
                            if self._listen(connection, selector, stop_reader):
                                return
                    except Exception as error:  # noqa: BLE001 - the listener must outlive any failure
                        logger.warning(
                            "LISTEN %s failed (reconnecting in %.2f s): %s", self._channel, delay, error
                        )
                    finally:
                        self.listening.clear()
                    if selector.select(delay):
                        return  # asked to stop
                    delay = _backoff(delay)
            finally:
                os.close(stop_reader)

    def _listen(
        self, connection: psycopg.Connection, selector: selectors.BaseSelector, stop_reader: int
    ) -> bool:
        """Deliver notifications until asked to stop (True) or the connection fails (raises)."""
        pgconn = connection.pgconn
        socket = connection.fileno()
        selector.register(socket, selectors.EVENT_READ)
        try:
            while True:
                ready = {key.fd for key, _ in selector.select()}
                if stop_reader in ready:
                    return True
                pgconn.consume_input()  # raises once the connection is gone
                from_elsewhere = False
                while (notification := pgconn.notifies()) is not None:
                    from_elsewhere |= notification.extra.decode() != self._origin
                if from_elsewhere:
                    self._on_notify()
        finally:
            selector.unregister(socket)


class PostgresSignal:
    """``TaskAvailability`` and ``WakeUpSignal`` over an in-process broadcast plus LISTEN/NOTIFY."""

    def __init__(self, conninfo: str, channel: str) -> None:
        self.channel = channel
        self._local = InProcessSignal()
        origin = f"{os.getpid()}-{uuid.uuid4().hex}"
        self._sender = _Sender(conninfo, channel, origin)
        self._listener = _Listener(conninfo, channel, origin, self._local.notify)

    @classmethod
    def from_settings(cls, settings: DatabaseSettings) -> PostgresSignal:
        return cls(conninfo_for(settings), channel_for(settings.schema))

    @property
    def listening(self) -> threading.Event:
        """Set while the listener is connected and LISTENing (for tests and diagnostics)."""
        return self._listener.listening

    @property
    def connections(self) -> int:
        return self._listener.connections

    @property
    def notifications_sent(self) -> int:
        return self._sender.sent

    def notify(self) -> None:
        self._local.notify()
        self._sender.request()

    def add_listener(self, listener: Callable[[], None]) -> None:
        self._local.add_listener(listener)

    def start(self) -> None:
        self._listener.start()

    def polls_parked(self, parked: bool) -> None:
        pass  # every NOTIFY is delivered as it comes: nothing to look for

    def stop(self) -> None:
        self._listener.stop()

    def close(self) -> None:
        self._listener.stop()
        self._sender.close()
