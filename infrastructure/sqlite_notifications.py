"""Wake-ups across processes that share one SQLite file.

An application that embeds the engine and an ``extask serve`` its workers poll often share one
file; a task the application creates must wake the polls parked in the server. ``SqliteSignal``
is the in-process broadcast plus a watcher: a thread with a connection of its own that reads
``PRAGMA data_version``, a number SQLite moves whenever another connection has committed to the
file. A look reads a counter in the write-ahead log's shared memory: no table, no file I/O, a
few microseconds.

The watcher looks every ``WATCH_INTERVAL`` seconds while polls are parked (the long poller says
when), and not at all otherwise: a thread woken twenty times a second costs about 0.4% of a core
here even when nothing changes. When polls park again it looks at once, and wakes them if
anything was committed since its last look; so nothing committed between a poll's first try and
its parking goes unseen.

The watcher cannot tell another process's commits from this process's own (made on other
connections, and already announced in-process). The wake-up it adds for them costs the long
poller one availability query; bursts of commits within one interval make one.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from contextlib import closing
from urllib.parse import quote

from eventsourcing.sqlite import SQLiteConnectionPool

from extask.infrastructure.notifications import InProcessSignal
from extask.infrastructure.persistence.database import DatabaseSettings

logger = logging.getLogger(__name__)

WATCH_INTERVAL = 0.05  # s: the most a commit in another process waits to be seen by parked polls
RETRY_DELAYS = (0.05, 5.0)  # s: first and longest wait before opening the file again after a failure
STOP_TIMEOUT_SECONDS = 5.0


def watchable_uri(path: str) -> str | None:
    """The URI to watch the database at ``path`` through (as the library opens it), or None for
    a database in memory, which no other process can share. The file must exist: the watcher
    must not create an empty database where the engine's is missing."""
    if SQLiteConnectionPool.detect_memory_mode(path):
        return None
    if path.startswith("file:"):
        return path
    return f"file:{quote(os.path.abspath(path))}?mode=rw"


class _Watcher:
    """Calls ``on_change`` from a thread of its own: once when it opens the file (for what came
    before), and whenever the file's data version has moved at a look. Each thread carries a token
    of its own; it stops once that is no longer the current one (a restarted watcher has a new
    one, so a thread from before a stop never runs on beside it)."""

    def __init__(self, uri: str, on_change: Callable[[], None]) -> None:
        self._uri = uri
        self._on_change = on_change
        self._condition = threading.Condition()
        self._wanted = False
        self._run: object | None = None  # the current thread's token
        self._thread: threading.Thread | None = None
        self.watching = threading.Event()  # set while the file is open with a version to compare
        self.changes = 0  # moves of the data version seen so far

    @property
    def running(self) -> bool:
        with self._condition:
            return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        with self._condition:
            if self._thread is not None and self._thread.is_alive():
                return
            self._run = object()
            self._thread = threading.Thread(
                target=self._keep_watching, args=(self._run,), name="extask-sqlite-watch", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        with self._condition:
            thread = self._thread
            self._run = self._thread = None
            self._condition.notify_all()
        if thread is not None:
            thread.join(STOP_TIMEOUT_SECONDS)

    def want(self, wanted: bool) -> None:
        with self._condition:
            self._wanted = wanted
            self._condition.notify_all()

    def _stopped(self, run: object) -> bool:
        return self._run is not run

    def _keep_watching(self, run: object) -> None:
        delay = RETRY_DELAYS[0]
        while True:
            try:
                with closing(sqlite3.connect(self._uri, uri=True)) as connection:
                    self._watch(connection, run)
                    return  # stopped
            except Exception as error:  # noqa: BLE001 - the watcher must outlive any failure
                logger.warning("cannot watch %s for commits (trying again in %.2f s): %s", self._uri, delay, error)
            finally:
                self.watching.clear()
            with self._condition:
                if self._condition.wait_for(lambda: self._stopped(run), delay):
                    return
            delay = min(delay * 2, RETRY_DELAYS[1])

    def _watch(self, connection: sqlite3.Connection, run: object) -> None:
        """Look at once whenever polls park, then every interval while they stay; returns once stopped."""
        [seen] = connection.execute("PRAGMA data_version").fetchone()
        self.watching.set()
        self._on_change()  # what was committed while nobody watched (before the start, or a failure)
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._stopped(run) or self._wanted)
                if self._stopped(run):
                    return
            [version] = connection.execute("PRAGMA data_version").fetchone()
            if version != seen:
                seen = version
                self.changes += 1
                self._on_change()
            with self._condition:
                if self._condition.wait_for(lambda: self._stopped(run), WATCH_INTERVAL):
                    return


class SqliteSignal(InProcessSignal):
    """``TaskAvailability`` and ``WakeUpSignal``: the in-process broadcast, plus the commits of
    other processes on the same file (see the module docstring)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        uri = watchable_uri(path)
        self._watcher = None if uri is None else _Watcher(uri, self.wake_listeners)
        self._not_watching = threading.Event()

    @classmethod
    def from_settings(cls, settings: DatabaseSettings) -> SqliteSignal:
        return cls(settings.library_env["SQLITE_DBNAME"])

    @property
    def watching(self) -> threading.Event:
        """Set while the file is open to be watched (for tests and diagnostics)."""
        return self._watcher.watching if self._watcher is not None else self._not_watching

    @property
    def watcher_running(self) -> bool:
        return self._watcher is not None and self._watcher.running

    @property
    def changes_seen(self) -> int:
        """Commits on other connections noticed so far (bursts within one look count once)."""
        return self._watcher.changes if self._watcher is not None else 0

    def polls_parked(self, parked: bool) -> None:
        if self._watcher is not None:
            self._watcher.want(parked)

    def start(self) -> None:
        if self._watcher is not None:
            self._watcher.start()

    def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()

    def close(self) -> None:
        self.stop()
