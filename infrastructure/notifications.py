"""Wake-ups for parked long polls: "a commit may have made tasks fetchable".

``InProcessSignal`` is the broadcast of one process: ``notify()`` (the service's
``TaskAvailability`` port, called after such a commit, from any thread) calls every listener
(the long poller's, which hands the work to its checker thread).

``PostgresSignal`` (``extask.infrastructure.postgres_notifications``) adds LISTEN/NOTIFY on top, so a
commit in one server process wakes the polls parked in every other one; ``SqliteSignal``
(``extask.infrastructure.sqlite_notifications``) watches the SQLite file for other processes' commits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class InProcessSignal:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self.notifications = 0

    def add_listener(self, listener: Callable[[], None]) -> None:
        with self._lock:
            self._listeners.append(listener)

    def notify(self) -> None:
        """Never raises: the commit it reports has already happened."""
        self.notifications += 1
        self.wake_listeners()

    def wake_listeners(self) -> None:
        """Call every listener, as for a commit here (also for commits heard of from elsewhere)."""
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener()
            except Exception:  # noqa: BLE001
                logger.exception("a wake-up listener failed")

    def start(self) -> None:
        pass

    def polls_parked(self, parked: bool) -> None:
        pass

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass
