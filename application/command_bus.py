"""How a command runs: decided on fresh state, committed, and decided again when it lost to a concurrent writer.

A command is a function of the time and a ``UnitOfWork`` that loads aggregates, lets them decide
and returns every aggregate it touched; ``CommandBus._run`` commits them as one group, and
concurrent commands share a transaction (group commit). A command that loses to a concurrent
writer is decided again on fresh state, up to ``MAX_SAVE_ATTEMPTS`` times, so callers only ever see
real conflicts (another worker holds the lock). Commands on one task queue up on its lock stripe.
``_execute_async`` is the coroutine path: it awaits the group commit without holding a thread.
The use cases (``task_creation``, ``worker_use_cases``, ``operator_use_cases``,
``process_instance_use_cases``) build on this class.
"""

from __future__ import annotations

import asyncio
import functools
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from eventsourcing.domain import Aggregate

from extask.application.errors import ApplicationError, ConcurrentModification, from_domain_error
from extask.application.event_store import ExternalTaskEventStore
from extask.application.group_commit import GroupCommitter
from extask.application.ports import Clock, RunSync, TaskAvailability
from extask.application.unit_of_work import NotCached, UnitOfWork
from extask.domain.errors import DomainError
from extask.domain.external_task import to_millisecond

MAX_SAVE_ATTEMPTS = 20
COMMAND_LOCK_STRIPES = 1024

Command = Callable[[datetime, UnitOfWork], Sequence[Aggregate]]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class ReadyCommand:
    """A command ready to run: how it decides, the key of the aggregate its runs queue on, and
    whether it may make tasks fetchable (parked long polls are then told)."""

    decide: Command
    key: str
    tasks_may_be_available: bool = False


class _NoWakeUps:
    def notify(self) -> None:
        pass


class CommandBus:
    def __init__(
        self,
        event_store: ExternalTaskEventStore,
        clock: Clock = utc_now,
        availability: TaskAvailability | None = None,
        run_sync: RunSync = asyncio.to_thread,
        commit_writers: int = 1,
    ) -> None:
        self._event_store = event_store
        self._clock = clock
        self._availability = availability or _NoWakeUps()
        # Where the coroutine commands run when they must block (``_execute_async``).
        self._run_sync = run_sync
        self._committer = GroupCommitter(event_store.prepare, event_store.write, writers=commit_writers)
        # Commands on the same task queue up here instead of racing each other's commits; only
        # writers in other processes, or two commands of this one changing the same process
        # instance, can still conflict, and those are decided again.
        self._command_locks = [threading.Lock() for _ in range(COMMAND_LOCK_STRIPES)]
        # Tasks being claimed by fetches of this process right now: a fetch selects that many
        # more candidates, since it will find those busy.
        self._claims_in_flight = 0
        self._claims_lock = threading.Lock()

    def close(self) -> None:
        self._committer.close()

    def _execute(self, command: ReadyCommand) -> None:
        self._run(command.decide, key=command.key, tasks_may_be_available=command.tasks_may_be_available)

    async def _execute_async(self, command: ReadyCommand) -> None:
        """Run a command from a coroutine. If nothing need wait (its aggregates are cached and no
        other command here is busy with them), it is decided on the event loop and its commit is
        awaited there, holding no thread; otherwise, and when that first decision is refused or
        was made on cached state that may be stale, it runs as usual in a thread."""
        lock = self._command_lock(command.key)
        if lock.acquire(blocking=False):
            try:
                aggregates = command.decide(self._now(), UnitOfWork(self._event_store, fresh=False, cached_only=True))
            except (NotCached, DomainError, ApplicationError):
                aggregates = None  # a refusal on cached state must be checked on fresh state
            except BaseException:
                lock.release()
                raise
            if aggregates is None:
                lock.release()
            else:
                committed = False
                try:
                    # The stripe goes with the write, and the writer lets it go when the write is
                    # over: were this coroutine cancelled meanwhile, a later command on the same
                    # task must still not be written beside it by another writer.
                    [committed] = await self._committer.commit_async([aggregates], when_written=lock.release)
                except asyncio.CancelledError:
                    # The write goes on without its caller and may well commit: parked polls
                    # are told all the same (one that finds nothing new has only looked).
                    committed = True
                    raise
                finally:
                    if committed and command.tasks_may_be_available:
                        self._availability.notify()
                if committed:
                    return
        await self._run_sync(
            functools.partial(
                self._run, command.decide, key=command.key, tasks_may_be_available=command.tasks_may_be_available,
                fresh=True,
            )
        )

    def _run(
        self,
        command: Command,
        *,
        key: str | None = None,
        tasks_may_be_available: bool = False,
        fresh: bool = False,
    ) -> Sequence[Aggregate]:
        """Decide and commit; decide again on fresh state when a concurrent writer got there first."""
        for attempt in range(MAX_SAVE_ATTEMPTS):
            lock = self._command_lock(key) if key is not None else None
            if lock is not None:
                lock.acquire()
            try:
                load = UnitOfWork(self._event_store, fresh=fresh)
                try:
                    aggregates = command(self._now(), load)
                except (DomainError, ApplicationError) as error:
                    if load.used_cache:
                        fresh = True  # the refusal may rest on stale state: decide again on fresh
                        continue
                    raise error if isinstance(error, ApplicationError) else from_domain_error(error) from None
                [committed] = self._committer.commit([aggregates])
            finally:
                if lock is not None:
                    lock.release()
            if committed:
                if tasks_may_be_available:
                    self._availability.notify()
                return aggregates
            fresh = True
            # Jittered backoff, so writers in different processes stop colliding in lockstep.
            time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise ConcurrentModification(
            "ENGINE-03005 The command kept conflicting with concurrent modifications of the same "
            "entities and was not applied."
        )

    def _hold_free_stripes(self, task_ids: Sequence[str]) -> tuple[set[threading.Lock], list[str]]:
        """Take the stripes of those tasks that no other command here is busy with, without
        waiting; the stripes held and the tasks they free, which count as claims in flight (a
        fetch here meanwhile must look past them) until the caller takes them off."""
        held: set[threading.Lock] = set()
        free = []
        for task_id in task_ids:
            lock = self._command_lock(task_id)
            # Two tasks may share a stripe: one already held here is no obstacle.
            if lock in held or lock.acquire(blocking=False):
                held.add(lock)
                free.append(task_id)
        with self._claims_lock:
            self._claims_in_flight += len(free)
        return held, free

    def _command_lock(self, key: str) -> threading.Lock:
        return self._command_locks[hash(key) % COMMAND_LOCK_STRIPES]

    def _now(self) -> datetime:
        return to_millisecond(self._clock())
