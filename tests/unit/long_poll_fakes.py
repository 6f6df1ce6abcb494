"""Fakes for the long-polling tests: a clock, scripted waiters and signal, a store of tasks
(tests/unit/conftest.py gives a scenario one of each: ``time``, ``signal``, ``store``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from extask.application.dto import FetchAndLockRequest, FetchTopic, LockedExternalTaskDTO

START = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
REQUEST = FetchAndLockRequest(
    worker_id="w", max_tasks=1, topics=[FetchTopic(topic_name="t", lock_duration=1000)]
)
TASK = object()  # stands for a LockedExternalTaskDTO


class Time:
    def __init__(self) -> None:
        self.elapsed = 0.0

    def monotonic(self) -> float:
        return self.elapsed

    def clock(self) -> datetime:
        return START + timedelta(seconds=self.elapsed)


class ScriptedWaiter:
    """``wait`` pops the next outcome: ("wake", after_seconds), "timeout", or blocks until woken."""

    def __init__(self, signal: ScriptedSignal) -> None:
        self.signal = signal
        self.woken = asyncio.Event()

    async def wait(self, timeout: float | None) -> bool:
        self.signal.waits.append(timeout)
        outcome = self.signal.script.pop(0) if self.signal.script else "block"
        if outcome == "block":  # until wake() (shutdown, disconnect)
            await self.woken.wait()
            self.woken.clear()
            return True
        if outcome == "timeout":
            self.signal.time.elapsed += timeout
            return False
        _, after = outcome
        self.signal.time.elapsed += after
        if self.signal.on_wake:
            self.signal.on_wake()
        return True

    def wake(self) -> None:
        self.woken.set()


class ScriptedSignal:
    """The wake-up signal and the waiters' script in one."""

    def __init__(self, time: Time) -> None:
        self.time = time
        self.script: list = []
        self.waits: list[float | None] = []
        self.waiters: list[ScriptedWaiter] = []
        self.on_wake: Callable[[], None] | None = None
        self.started = self.stopped = 0
        self.listeners: list[Callable[[], None]] = []
        self.parked_changes: list[bool] = []  # what polls_parked was told, in order

    def new_waiter(self) -> ScriptedWaiter:
        self.waiters.append(ScriptedWaiter(self))
        return self.waiters[-1]

    def add_listener(self, listener: Callable[[], None]) -> None:
        self.listeners.append(listener)

    def notify(self) -> None:
        for listener in self.listeners:
            listener()

    def start(self) -> None:
        self.started += 1

    def polls_parked(self, parked: bool) -> None:
        self.parked_changes.append(parked)

    def stop(self) -> None:
        self.stopped += 1


class Store:
    """The fetch and the expiry query: ``fetchable`` tasks are handed out once."""

    def __init__(self, time: Time) -> None:
        self.time = time
        self.fetchable: list = []
        self.expiring_at: datetime | None = None  # a lock that expires then makes TASK fetchable
        self.fetches = 0
        self.expiry_queries: list[tuple[list[str], datetime]] = []
        self.earliest: dict[str, datetime] = {}  # what the shared check sees, per topic
        self.checks: list[list[str]] = []
        self.checked = threading.Event()
        self.error: Exception | None = None

    def fetch(self, request: FetchAndLockRequest) -> list[LockedExternalTaskDTO]:
        self.fetches += 1
        if self.error:
            raise self.error
        if self.expiring_at is not None and self.time.clock() >= self.expiring_at:
            self.fetchable.append(TASK)
            self.expiring_at = None
        found, self.fetchable = self.fetchable[: request.max_tasks], self.fetchable[request.max_tasks :]
        return found

    def next_availability(self, topics, now: datetime) -> datetime | None:
        self.expiry_queries.append(([t.topic_name for t in topics], now))
        return self.expiring_at if self.expiring_at is not None and self.expiring_at > now else None

    def earliest_by_topic(self, topic_names) -> dict[str, datetime]:
        self.checks.append(list(topic_names))
        self.checked.set()
        return {name: at for name, at in self.earliest.items() if name in topic_names}


async def direct(function, *args):
    return function(*args)


def request_for(*topics: str) -> FetchAndLockRequest:
    return FetchAndLockRequest(worker_id="w", max_tasks=1, topics=[FetchTopic(t, 1000) for t in topics])
