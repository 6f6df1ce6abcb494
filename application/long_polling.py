"""Long polling for fetch-and-lock (Camunda's ``asyncResponseTimeout``).

A poll is tried at once; if it locks nothing and has a timeout, it is *parked*: it waits, without a
thread of its own, until a task of its topics may be fetchable, and only then runs its fetch
again. It answers with the first tasks it locks, or ``[]`` at its timeout.

When a parked poll re-checks:
- at the earliest lock or retry-timeout expiry among the tasks it could fetch (its own query,
  made after each empty fetch);
- when the ``WakeUpSignal`` reports a commit that may have made tasks fetchable (in this process
  or another). One availability query per process then serves every parked poll: per topic, the
  earliest moment a task becomes fetchable. Only the polls with a topic that has a task fetchable
  now, or sooner than they planned to re-check, are woken. A commit on a busy topic thus costs one
  query, not one per parked worker, and a worker on an idle topic is not disturbed by it.
While nothing changes, parked polls make no database queries. (A signal that must look for other
processes' commits, rather than be told of them, is told while polls are parked: ``polls_parked``.)

What the shared check may cost: it asks about at most ``CHECK_TOPICS_PER_QUERY`` topics a query,
and the topics are bounded by the parked polls times the topics one fetch may name; commits that
come while it runs are served by its next run, and after a run it rests a multiple of what the run
took (``CHECK_REST_RATIO``), so on a busy server it takes a bounded share of one thread and one
connection, however many polls watch however many topics. When it fails, every poll looks for
itself, but no more often than a back-off that doubles with each failure in a row.

Slots: at most ``max_parked`` polls are held by one process, and at most
``max_parked_per_client`` of them for one client (its network address, as the REST layer says),
so one client cannot take every slot. A poll beyond either bound is refused, as Camunda refuses a
request when its queue is full. A poll whose client went away gives back the tasks it locked
meanwhile (``give_back``) rather than leave them locked for nobody.

Nothing here knows about databases or HTTP: the queries, the signal, the clocks, the waiter and
the way synchronous calls leave the event loop are injected.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from extask.application.async_waiter import AsyncWaiter
from extask.application.dto import FetchAndLockRequest, FetchTopic, LockedExternalTaskDTO
from extask.application.errors import ApplicationError
from extask.application.ports import Clock, RunSync

DEFAULT_MAX_PARKED_POLLS = 200
# One client's share of the slots, when not set: a quarter.
DEFAULT_CLIENT_SHARE = 4
# The shared check's queries name at most this many topics each.
CHECK_TOPICS_PER_QUERY = 500
# After a shared check the checker rests this many times as long as the check took.
CHECK_REST_RATIO = 3.0
# After a failed shared check: the first back-off, doubled with every failure in a row up to the last.
CHECK_BACKOFF_SECONDS = (0.05, 5.0)

logger = logging.getLogger(__name__)

Fetch = Callable[[FetchAndLockRequest], list[LockedExternalTaskDTO]]
# How long a poll waits before looking again at a task that is fetchable but was taken first.
RECHECK_BUSY_SECONDS = 0.05

# The earliest moment a task these topics would fetch is or becomes fetchable (maybe the past).
NextAvailability = Callable[[Sequence[FetchTopic], datetime], "datetime | None"]
# Per topic name, the earliest moment any of its tasks is fetchable (in the past if one is now).
EarliestByTopic = Callable[[Sequence[str]], "dict[str, datetime]"]


class TooManyParkedPolls(ApplicationError):
    """The bound on parked polls is reached (Camunda: 500, the queue of pending requests is full)."""

    camunda_type = "InvalidRequestException"

    def __init__(self) -> None:
        super().__init__(
            "At the moment the server has to handle too many requests at the same time. "
            "Please try again later."
        )


class TooManyParkedPollsOfClient(TooManyParkedPolls):
    """One client holds its share of the parked polls already (refused like ``TooManyParkedPolls``)."""

    def __init__(self, share: int) -> None:
        ApplicationError.__init__(
            self,
            "At the moment the server has to handle too many requests of this client at the same time: "
            f"it holds {share} long polls, the most one client may hold (max_parked_per_client). "
            "Please try again later.",
        )


class PollRejectedByShutdown(ApplicationError):
    """The server is shutting down while the poll was parked (Camunda: 500 RestException)."""

    camunda_type = "RestException"

    def __init__(self) -> None:
        super().__init__("Request rejected due to shutdown of application server.")


class Waiter(Protocol):
    def wake(self) -> None: ...

    async def wait(self, timeout: float | None) -> bool: ...


class WakeUpSignal(Protocol):
    """Broadcast of "tasks may have become fetchable" after commits, from this process and, where
    the implementation can, from others sharing the database."""

    def add_listener(self, listener: Callable[[], None]) -> None:
        """``listener`` is called (from any thread; it must be quick) on every such commit."""

    def start(self) -> None:
        """Begin receiving wake-ups from other processes (idempotent)."""

    def polls_parked(self, parked: bool) -> None:
        """Told (quickly, in order) when the first poll parks and when the last one leaves: a
        signal that must look for other processes' commits, rather than be told of them, need
        only look meanwhile."""

    def stop(self) -> None: ...


@dataclass(eq=False)
class _Poll:
    topics: frozenset[str]
    waiter: Waiter
    client: str | None = None  # whose share of the slots it takes; None: nobody's
    recheck_at: datetime | None = None  # when it re-checks by itself; None: not scheduled yet
    parked: bool = False
    gone: bool = False


GiveBack = Callable[[list[LockedExternalTaskDTO]], None]


class LongPoller:
    """Runs fetch-and-lock requests with a response timeout; see the module docstring."""

    def __init__(
        self,
        fetch: Fetch,
        next_availability: NextAvailability,
        earliest_by_topic: EarliestByTopic,
        signal: WakeUpSignal,
        clock: Clock,
        *,
        max_parked: int = DEFAULT_MAX_PARKED_POLLS,
        max_parked_per_client: int | None = None,
        run_sync: RunSync = asyncio.to_thread,
        monotonic: Callable[[], float] = time.monotonic,
        new_waiter: Callable[[], Waiter] = AsyncWaiter,
        pause: Callable[[float], object] | None = None,
    ) -> None:
        self._fetch = fetch
        self._next_availability = next_availability
        self._earliest_by_topic = earliest_by_topic
        self._signal = signal
        self._clock = clock
        self._run_sync = run_sync
        self._monotonic = monotonic
        self._new_waiter = new_waiter
        self.max_parked = max_parked
        self.max_parked_per_client = (
            max(1, max_parked // DEFAULT_CLIENT_SHARE) if max_parked_per_client is None else max_parked_per_client
        )
        self._lock = threading.Lock()  # polls may run on several event loops (threads)
        self._polls: set[_Poll] = set()
        self._parked = self._waiting = 0
        self._parked_by_client: dict[str, int] = {}
        self._closing = False
        self.queries = 0  # fetches and expiry queries of parked polls (first tries not counted)
        self.checks = 0  # shared availability queries after wake-ups
        self._changed = threading.Event()
        self._halted = threading.Event()  # set while stopped: ends the checker's rests at once
        # How the checker rests between checks (it must return at once once halted).
        self._pause = pause or self._halted.wait
        self._checker: threading.Thread | None = None
        self._stopped = False
        self.failed_checks = 0  # shared checks that failed
        signal.add_listener(self._on_change)

    @property
    def parked(self) -> int:
        """Polls held: waiting, or re-checking."""
        return self._parked

    @property
    def waiting(self) -> int:
        """Parked polls idle between their checks."""
        return self._waiting

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Accept parked polls (again) and receive wake-ups from other processes."""
        with self._lock:
            self._closing = self._stopped = False
            self._halted.clear()
        self._signal.start()

    def reject_parked(self) -> int:
        """Answer every parked poll with ``PollRejectedByShutdown`` and refuse new ones."""
        with self._lock:
            self._closing = True
            polls = list(self._polls)
        for poll in polls:
            poll.waiter.wake()
        return len(polls)

    def shutdown(self) -> None:
        """Reject parked polls and stop receiving wake-ups; ``start`` undoes it."""
        self.reject_parked()
        self._signal.stop()
        with self._lock:
            self._stopped = True
            checker, self._checker = self._checker, None
        self._halted.set()
        self._changed.set()
        if checker is not None:
            checker.join(5.0)

    # -- one poll -------------------------------------------------------------------------------

    async def fetch_and_lock(
        self,
        request: FetchAndLockRequest,
        timeout_ms: int | None,
        disconnected: Callable[[], Awaitable[Any]] | None = None,
        *,
        client: str | None = None,
        give_back: GiveBack | None = None,
    ) -> list[LockedExternalTaskDTO]:
        """Lock tasks at once, or wait up to ``timeout_ms`` for some; ``[]`` at the timeout.

        ``disconnected`` (optional) completes when the client has gone away: the poll then stops
        waiting, and tasks it locked after that are handed to ``give_back`` (if given) rather than
        answered to nobody. ``client`` names whose share of the parked polls it takes.
        """
        if not timeout_ms or timeout_ms <= 0:
            return await self._run_sync(self._fetch, request)
        deadline = self._monotonic() + timeout_ms / 1000
        topic_names = frozenset(t.topic_name for t in request.topics if t.topic_name is not None)
        poll = _Poll(topic_names, self._new_waiter(), client)
        with self._lock:  # watched before the first try: no commit after it goes unnoticed
            self._polls.add(poll)
            closing = self._closing
        if not closing:
            self._signal.start()  # embedded use without start(): listen from the first long poll on
        watcher = asyncio.ensure_future(self._watch(disconnected, poll)) if disconnected else None
        try:
            tasks = await self._fetch_for(poll, request, give_back)  # validates: bad input fails at once
            if tasks or poll.gone:
                return tasks
            self._park(poll)
            return await self._wait(request, poll, deadline, give_back)
        finally:
            if watcher is not None:
                watcher.cancel()
            self._leave(poll)

    async def _fetch_for(
        self, poll: _Poll, request: FetchAndLockRequest, give_back: GiveBack | None
    ) -> list[LockedExternalTaskDTO]:
        tasks = await self._run_sync(self._fetch, request)
        if tasks and poll.gone and give_back is not None:
            # The client left while the fetch ran: nobody would receive these.
            await self._run_sync(give_back, tasks)
            return []
        return tasks

    def _park(self, poll: _Poll) -> None:
        with self._lock:
            if self._closing:
                raise PollRejectedByShutdown()
            if self._parked >= self.max_parked:
                raise TooManyParkedPolls()
            if poll.client is not None:
                held = self._parked_by_client.get(poll.client, 0)
                if held >= self.max_parked_per_client:
                    raise TooManyParkedPollsOfClient(held)
                self._parked_by_client[poll.client] = held + 1
            self._parked += 1
            poll.parked = True
            if self._parked == 1:
                self._signal.polls_parked(True)

    def _leave(self, poll: _Poll) -> None:
        with self._lock:
            self._polls.discard(poll)
            if poll.parked:
                self._parked -= 1
                if poll.client is not None:
                    left = self._parked_by_client.pop(poll.client) - 1
                    if left:
                        self._parked_by_client[poll.client] = left
                if self._parked == 0:
                    self._signal.polls_parked(False)

    async def _wait(
        self, request: FetchAndLockRequest, poll: _Poll, deadline: float, give_back: GiveBack | None
    ) -> list[LockedExternalTaskDTO]:
        topics = list({topic.topic_name: topic for topic in request.topics}.values())
        while True:
            if self._closing:
                raise PollRejectedByShutdown()
            self.queries += 1
            next_at = await self._run_sync(self._next_availability, topics, self._clock())
            now = self._clock()
            delay = max(deadline - self._monotonic(), 0.0)
            if next_at is not None:
                # A task that is fetchable already but was not ours a moment ago is being
                # taken by someone else: look again shortly rather than spin.
                until = (next_at - now).total_seconds()
                delay = min(delay, until if until > 0 else RECHECK_BUSY_SECONDS)
            poll.recheck_at = now + timedelta(seconds=delay)
            self._count_waiting(+1)
            try:
                await poll.waiter.wait(delay)
            finally:
                self._count_waiting(-1)
            if poll.gone:
                return []
            if self._closing:
                raise PollRejectedByShutdown()
            if self._monotonic() >= deadline:
                return []
            self.queries += 1
            tasks = await self._fetch_for(poll, request, give_back)
            if tasks or poll.gone:
                return tasks

    def _count_waiting(self, change: int) -> None:
        with self._lock:
            self._waiting += change

    @staticmethod
    async def _watch(disconnected: Callable[[], Awaitable[Any]], poll: _Poll) -> None:
        await disconnected()
        poll.gone = True
        poll.waiter.wake()

    # -- wake-ups -------------------------------------------------------------------------------

    def check(self) -> int:
        """One shared availability query for every watched poll; wakes those that may now find a
        task (or find one sooner than they planned). Returns how many it woke."""
        with self._lock:
            polls = list(self._polls)
        if not polls:
            return 0
        self.checks += 1
        topics = sorted(set().union(*(poll.topics for poll in polls)))
        earliest: dict[str, datetime] = {}
        for start in range(0, len(topics), CHECK_TOPICS_PER_QUERY):
            earliest.update(self._earliest_by_topic(topics[start : start + CHECK_TOPICS_PER_QUERY]))
        woken = 0
        for poll in polls:
            times = [earliest[topic] for topic in poll.topics if topic in earliest]
            if times and (poll.recheck_at is None or min(times) < poll.recheck_at):
                poll.waiter.wake()
                woken += 1
        return woken

    def _on_change(self) -> None:
        """The signal's listener: hand the check to the checker thread (collapsing bursts)."""
        self._changed.set()
        if self._checker is None:
            with self._lock:
                if self._checker is None and not self._stopped:
                    self._checker = threading.Thread(
                        target=self._run_checks, name="extask-long-poll", daemon=True
                    )
                    self._checker.start()

    def _run_checks(self) -> None:
        failures = 0
        while True:
            self._changed.wait()
            if self._stopped:
                return
            self._changed.clear()
            started = self._monotonic()
            try:
                self.check()
            except Exception:  # noqa: BLE001 - let every poll check for itself, now and then
                failures += 1
                self.failed_checks += 1
                first, longest = CHECK_BACKOFF_SECONDS
                backoff = min(longest, first * 2 ** min(failures - 1, 16))
                if failures == 1:
                    logger.exception("the availability check after a wake-up failed; polls look for themselves")
                else:
                    logger.warning("the availability check after a wake-up failed again (%d in a row)", failures)
                self._wake_all()
                self._pause(backoff)
                continue
            failures = 0
            # Commits that come meanwhile wait for the next check: a slow check cannot take more
            # than its share of the time, however often commits come.
            self._pause((self._monotonic() - started) * CHECK_REST_RATIO)

    def _wake_all(self) -> None:
        with self._lock:
            polls = list(self._polls)
        for poll in polls:
            poll.waiter.wake()
