"""Wake-ups across processes that share one SQLite file.

An application that embeds the engine and an ``extask serve`` its workers poll often share one
file; a task the application creates must wake the polls parked in the server. ``SqliteSignal``
is the in-process broadcast plus a watcher: a thread of its own that reads
``PRAGMA data_version`` on a connection of its own every ``WATCH_INTERVAL`` seconds. SQLite
changes that number whenever another connection has committed to the file, so a commit in
another process wakes this process's parked polls within one interval. A look reads a counter
in the write-ahead log's shared memory: no table, no file I/O, a few microseconds. The watcher
looks only while polls are parked (the long poller says when), since waking a thread 20 times a
second costs about 0.4% of a core here even when nothing changes.

The watcher cannot tell another process's commits from this process's own (which are made on
other connections, and have already woken the polls they concern). The wake-up it adds for them
costs the long poller one availability query; bursts of commits within one interval make one.
So does the first look after polls park, for what another process committed before it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

from infrastructure.notifications import InProcessSignal
from infrastructure.persistence.database import DatabaseSettings

logger = logging.getLogger(__name__)

WATCH_INTERVAL = 0.05  # s: the most a wake-up from another process waits to be seen
RETRY_INTERVAL = 1.0  # s: before opening the file again after a failure
STOP_TIMEOUT_SECONDS = 5.0


class _Watcher:
    """Calls ``on_change`` from a thread of its own whenever the file's data version moves, while
    it is wanted: from ``want(True)`` (and once then, for what came before) to ``want(False)``."""

    def __init__(self, path: str, on_change: Callable[[], None]) -> None:
        self._path = path
        self._on_change = on_change
        self._condition = threading.Condition()
        self._wanted = False
        self._stopping = True
        self._thread: threading.Thread | None = None
        self.watching = threading.Event()  # set while the file is open and being looked at
        self.changes = 0  # changes seen so far

    def start(self) -> None:
        with self._condition:
            if not self._stopping:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="extask-sqlite-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._condition:
            self._stopping = True
            thread, self._thread = self._thread, None
            self._condition.notify_all()
        if thread is not None:
            thread.join(STOP_TIMEOUT_SECONDS)

    def want(self, wanted: bool) -> None:
        with self._condition:
            self._wanted = wanted
            self._condition.notify_all()

    def _wait_until_wanted(self) -> bool:
        """False once asked to stop."""
        with self._condition:
            self._condition.wait_for(lambda: self._wanted or self._stopping)
            return not self._stopping

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while self._wait_until_wanted():
                try:
                    if connection is None:
                        connection = sqlite3.connect(self._path, check_same_thread=False)
                    self._watch(connection)
                except sqlite3.Error as error:
                    logger.warning(
                        "cannot watch %s for commits (trying again in %.1f s): %s", self._path, RETRY_INTERVAL, error
                    )
                    if connection is not None:
                        connection.close()
                    connection = None  # the file may have been replaced: open it anew
                    with self._condition:
                        self._condition.wait_for(lambda: self._stopping, RETRY_INTERVAL)
                finally:
                    self.watching.clear()
        finally:
            if connection is not None:
                connection.close()

    def _watch(self, connection: sqlite3.Connection) -> None:
        """Look every interval while wanted."""
        [seen] = connection.execute("PRAGMA data_version").fetchone()
        self.watching.set()
        # What another process committed before the look began (a poll may have parked just after it).
        self._on_change()
        while True:
            with self._condition:
                if self._condition.wait_for(lambda: self._stopping or not self._wanted, WATCH_INTERVAL):
                    return
            [version] = connection.execute("PRAGMA data_version").fetchone()
            if version != seen:
                seen = version
                self.changes += 1
                self._on_change()


class SqliteSignal:
    """``TaskAvailability`` and ``WakeUpSignal`` over an in-process broadcast plus a watch on the
    SQLite file (see the module docstring)."""

    def __init__(self, path: str) -> None:
        self._local = InProcessSignal()
        # No other process can share a database in memory.
        in_memory = path == ":memory:" or "mode=memory" in path
        self._watcher = None if in_memory else _Watcher(path, self._local.notify)

    @classmethod
    def from_settings(cls, settings: DatabaseSettings) -> SqliteSignal:
        return cls(settings.library_env["SQLITE_DBNAME"])

    @property
    def watching(self) -> threading.Event:
        """Set while the file is being looked at: started, with polls parked (for tests and diagnostics)."""
        return self._watcher.watching if self._watcher is not None else threading.Event()

    @property
    def changes_seen(self) -> int:
        """Commits on other connections noticed so far (bursts within one look count once)."""
        return self._watcher.changes if self._watcher is not None else 0

    def notify(self) -> None:
        self._local.notify()

    def polls_parked(self, parked: bool) -> None:
        if self._watcher is not None:
            self._watcher.want(parked)

    def add_listener(self, listener: Callable[[], None]) -> None:
        self._local.add_listener(listener)

    def start(self) -> None:
        if self._watcher is not None:
            self._watcher.start()

    def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()

    def close(self) -> None:
        self.stop()
