"""The worker commands for coroutines (``complete_async`` and its siblings): decided on the event
loop when the task is cached, else in a thread, and always with the same outcome as the plain
commands, whatever another server process did meanwhile.

"Another server process" is a second engine on the same database, with a cache of its own.
"""

from __future__ import annotations

import asyncio
import threading

import anyio.to_thread
import pytest

from extask.application.errors import Conflict, NotFound
from extask.infrastructure.bootstrap import build_engine

from .helpers import (
    ANOTHER_WORKER_ID,
    LOCK_TIME,
    WORKER_ID,
    create_task,
    event_names,
    fetch,
    fetch_one,
    logs,
    raises,
)


@pytest.fixture
def other(database_url, clock):
    """Another server process on the same database."""
    engine = build_engine(database_url, clock=clock)
    yield engine
    engine.close()


def completed_by(service, task_id: str) -> list[str]:
    return [log.worker_id for log in logs(service, external_task_id=task_id, success_log=True)]


class TestOnTheEventLoop:
    def test_a_cached_task_is_completed_without_a_thread(self, service, locked, monkeypatch):
        def no_threads(*args, **kwargs):
            raise AssertionError("a cached, uncontended command went to a thread")

        monkeypatch.setattr(service, "_run_sync", no_threads)
        asyncio.run(service.complete_async(locked.task.id, WORKER_ID))
        assert completed_by(service, locked.task.id) == [WORKER_ID]

    def test_each_worker_command_has_its_coroutine_form(self, service):
        create_task(service)
        create_task(service)
        first, second = fetch(service, max_tasks=2)

        async def commands() -> None:
            await service.extend_lock_async(first.task.id, WORKER_ID, 2 * LOCK_TIME)
            await service.handle_failure_async(first.task.id, WORKER_ID, error_message="boom", retries=0)
            await service.handle_bpmn_error_async(second.task.id, WORKER_ID, "E-1", error_message="business")

        asyncio.run(commands())
        assert service.get_task(first.task.id).retries == 0
        with raises(NotFound):
            service.get_task(second.task.id)


class TestWhenTheCacheCannotDecide:
    def test_a_task_this_process_never_saw_is_completed_in_the_engines_thread_pool(self, service, other, monkeypatch):
        """The engine's pool (the server's, as FastAPI's sync routes use), not asyncio's default
        one of a few threads per core, which a server's waiting commands would soon fill."""
        task = create_task(other.service)
        fetch_one(other.service)
        pooled = []
        run_sync = service._run_sync

        async def recording(function, *args):
            pooled.append(function)
            return await run_sync(function, *args)

        assert run_sync is anyio.to_thread.run_sync  # the engine's pool, as built
        monkeypatch.setattr(service, "_run_sync", recording)
        asyncio.run(service.complete_async(task.id, WORKER_ID))
        assert completed_by(service, task.id) == [WORKER_ID]
        assert len(pooled) == 1

    def test_a_refusal_on_stale_cached_state_is_checked_on_fresh_state(self, service, other, clock):
        """This process cached the task as locked by one worker; another process then let the lock
        expire and gave the task to a second worker, who may complete it here."""
        task = create_task(service)
        fetch_one(service, worker=WORKER_ID)
        clock.advance(LOCK_TIME + 1)
        fetch_one(other.service, worker=ANOTHER_WORKER_ID)
        asyncio.run(service.complete_async(task.id, ANOTHER_WORKER_ID))
        assert completed_by(service, task.id) == [ANOTHER_WORKER_ID]

    def test_a_real_refusal_reaches_the_caller(self, service, locked):
        refusal = f"External Task {locked.task.id} cannot be completed by worker 'nobody'. It is locked by worker '{WORKER_ID}'."
        with raises(Conflict, refusal):
            asyncio.run(service.complete_async(locked.task.id, "nobody"))
        assert completed_by(service, locked.task.id) == []

    def test_the_databases_error_reaches_the_caller(self, service, engine, locked, monkeypatch):
        def broken(groups):
            raise RuntimeError("the database went away")

        monkeypatch.setattr(service._committer, "_write_groups", broken)
        with pytest.raises(RuntimeError, match="the database went away"):
            asyncio.run(service.complete_async(locked.task.id, WORKER_ID))



class TestCancelled:
    def test_a_command_cancelled_while_its_commit_is_written_still_wakes_parked_polls(
        self, engine, service, locked, monkeypatch
    ):
        """Its write goes on and commits; a poll parked until the old lock expiry must look again,
        and the next command on the task follows the write."""
        writing, gate = threading.Event(), threading.Event()
        write = service._committer._write_groups

        def gated(groups):
            writing.set()
            gate.wait()
            return write(groups)

        monkeypatch.setattr(service._committer, "_write_groups", gated)
        wake_ups = []
        monkeypatch.setattr(service._availability, "notify", lambda: wake_ups.append("notified"))

        async def cancel_while_writing() -> None:
            command = asyncio.ensure_future(service.extend_lock_async(locked.task.id, WORKER_ID, 2 * LOCK_TIME))
            await asyncio.to_thread(writing.wait)
            command.cancel()
            with pytest.raises(asyncio.CancelledError):
                await command
            assert wake_ups == ["notified"]
            # The task's command stripe stays with the write: a later command on the task waits
            # for it rather than being written beside it by another writer.
            assert service._command_lock(locked.task.id).locked()

        try:
            asyncio.run(cancel_while_writing())
        finally:
            gate.set()
        stripe = service._command_lock(locked.task.id)
        # Let go once the write is over; were it never, the command below would wait for ever.
        assert stripe.acquire(timeout=10), "the stripe was never let go"
        stripe.release()
        service.extend_lock(locked.task.id, WORKER_ID, 3 * LOCK_TIME)  # decided once that write is over
        assert event_names(engine, locked.task.id).count("LockExtended") == 2
