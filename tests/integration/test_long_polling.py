"""Long polling on SQLite and PostgreSQL with real threads and the real clock.

A poll is parked on an event loop of its own thread (as a server would hold it) while the test
thread changes tasks through the service. Waits are on conditions and thread ends with bounds;
the bounds are generous (a wake-up takes milliseconds), so a slow machine does not fail them.
On PostgreSQL, two engines on one schema stand for two server processes: a change made through
one wakes a poll parked on the other through LISTEN/NOTIFY.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from typing import Any

import psycopg
import pytest

from extask.application.dto import FetchAndLockRequest, FetchTopic, NewExternalTask
from extask.application.long_polling import PollRejectedByShutdown, TooManyParkedPolls
from extask.infrastructure.bootstrap import Engine, build_engine
from extask.infrastructure.sqlite_notifications import SqliteSignal
from tests.conftest import postgres_url

BOUND = 5.0  # seconds: the most any wake-up below may take
LONG = 60_000  # ms: a poll timeout no test waits for


def wait_until(condition: Callable[[], Any], timeout: float = BOUND, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.002)


def report(what: str, latencies: list[float], capsys) -> None:
    with capsys.disabled():
        print(
            f"\n{what}: p50 {statistics.median(latencies) * 1000:.1f} ms, "
            f"max {max(latencies) * 1000:.1f} ms over {len(latencies)} trials"
        )
    assert max(latencies) < BOUND


def request(topic: str, worker: str = "poller", lock_duration: int = 60_000, max_tasks: int = 1) -> FetchAndLockRequest:
    return FetchAndLockRequest(
        worker_id=worker, max_tasks=max_tasks, topics=[FetchTopic(topic_name=topic, lock_duration=lock_duration)]
    )


class ParkedPoll:
    """``engine.long_polling.fetch_and_lock`` running on an event loop in a thread of its own."""

    def __init__(self, engine: Engine, fetch: FetchAndLockRequest, timeout_ms: int) -> None:
        self.result: list | None = None
        self.error: BaseException | None = None
        self.answered_at: float | None = None
        self.started_at = time.monotonic()

        def run() -> None:
            try:
                self.result = asyncio.run(engine.long_polling.fetch_and_lock(fetch, timeout_ms))
            except BaseException as error:  # reported by the test
                self.error = error
            self.answered_at = time.monotonic()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def answer(self, timeout: float = BOUND) -> list:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the poll did not answer within {timeout} s"
        if self.error is not None:
            raise self.error
        return self.result

    def task_ids(self, timeout: float = BOUND) -> list[str]:
        return [locked.task.id for locked in self.answer(timeout)]


def park(engine: Engine, fetch: FetchAndLockRequest, timeout_ms: int = LONG, parked: int = 1) -> ParkedPoll:
    poll = ParkedPoll(engine, fetch, timeout_ms)
    wait_until(lambda: engine.long_polling.waiting >= parked or not poll.thread.is_alive(), what="the poll to park")
    assert poll.thread.is_alive(), f"answered at once: {poll.result or poll.error!r}"
    return poll


@pytest.fixture
def live_engine(database_url: str) -> Iterator[Engine]:
    """An engine on the real clock (lock and retry timeouts must really expire)."""
    engine = build_engine(database_url, max_parked_polls=3)
    yield engine
    engine.close()


class TestWakeUps:
    def test_a_parked_poll_answers_when_another_thread_creates_a_task(self, live_engine):
        poll = park(live_engine, request("created"))
        created = live_engine.service.create(NewExternalTask(topic_name="created"))
        woke_after = time.monotonic()
        assert poll.task_ids() == [created.id]
        assert poll.answered_at - woke_after < BOUND

    def test_a_task_of_another_topic_does_not_answer_it(self, live_engine):
        poll = park(live_engine, request("wanted"))
        live_engine.service.create(NewExternalTask(topic_name="unwanted"))
        created = live_engine.service.create(NewExternalTask(topic_name="wanted"))
        assert poll.task_ids() == [created.id]

    def test_commits_on_a_busy_topic_cost_one_shared_check_and_leave_idle_polls_alone(self, live_engine):
        polls = [park(live_engine, request(f"idle-{i}", worker=f"w{i}"), parked=i + 1) for i in range(3)]
        queries = live_engine.long_polling.queries
        for _ in range(5):
            checks = live_engine.long_polling.checks
            live_engine.service.create(NewExternalTask(topic_name="busy"))
            wait_until(lambda: live_engine.long_polling.checks > checks, what="the shared check")
        assert live_engine.long_polling.queries == queries  # none of the idle polls re-checked
        assert all(poll.thread.is_alive() for poll in polls)
        live_engine.long_polling.reject_parked()
        for poll in polls:
            with pytest.raises(PollRejectedByShutdown):
                poll.answer()

    def test_unlock_answers_it(self, live_engine):
        task = live_engine.service.create(NewExternalTask(topic_name="unlocked"))
        [locked] = live_engine.service.fetch_and_lock(request("unlocked", worker="holder"))
        poll = park(live_engine, request("unlocked"))
        live_engine.service.unlock(task.id)
        assert poll.task_ids() == [task.id]

    def test_raising_retries_answers_it(self, live_engine):
        task = live_engine.service.create(NewExternalTask(topic_name="retried"))
        live_engine.service.fetch_and_lock(request("retried", worker="holder"))
        live_engine.service.handle_failure(task.id, "holder", retries=0, retry_timeout=0)
        poll = park(live_engine, request("retried"))
        live_engine.service.set_retries(task.id, 1)
        assert poll.task_ids() == [task.id]

    def test_activating_the_process_instance_answers_it(self, live_engine):
        task = live_engine.service.create(NewExternalTask(topic_name="activated", process_instance_id="pi-a"))
        live_engine.service.suspend_process_instance("pi-a")
        poll = park(live_engine, request("activated"))
        live_engine.service.activate_process_instance("pi-a")
        assert poll.task_ids() == [task.id]


class TestExpiry:
    def test_a_retry_timeout_expiring_answers_it(self, live_engine):
        task = live_engine.service.create(NewExternalTask(topic_name="retry-timeout"))
        live_engine.service.fetch_and_lock(request("retry-timeout", worker="holder"))
        live_engine.service.handle_failure(task.id, "holder", retries=1, retry_timeout=400)
        failed_at = time.monotonic()
        poll = park(live_engine, request("retry-timeout"))
        assert poll.task_ids() == [task.id]
        assert 0.35 <= poll.answered_at - failed_at < BOUND

    def test_a_lock_expiring_answers_it(self, live_engine):
        task = live_engine.service.create(NewExternalTask(topic_name="lock-expiry"))
        live_engine.service.fetch_and_lock(request("lock-expiry", worker="holder", lock_duration=400))
        locked_at = time.monotonic()
        poll = park(live_engine, request("lock-expiry"))
        assert poll.task_ids() == [task.id]
        assert 0.35 <= poll.answered_at - locked_at < BOUND

    def test_nothing_available_answers_empty_at_the_timeout(self, live_engine):
        poll = park(live_engine, request("nothing"), timeout_ms=300)
        assert poll.answer() == []
        assert 0.3 <= poll.answered_at - poll.started_at < BOUND

    def test_a_waiting_poll_makes_no_database_queries_while_nothing_changes(self, live_engine):
        # The first LISTEN (PostgreSQL) or look at the file (SQLite) checks once for what came before.
        live_engine.long_polling.start()
        wake_ups = live_engine.wake_ups
        assert (wake_ups.listening if hasattr(wake_ups, "listening") else wake_ups.watching).wait(BOUND)
        queries = []
        run_query = live_engine.runtime._rows
        live_engine.runtime._rows = lambda *args, **kwargs: queries.append(args) or run_query(*args, **kwargs)
        poll = park(live_engine, request("idle"), timeout_ms=LONG)
        before = (len(queries), live_engine.long_polling.queries)
        poll.thread.join(1.0)  # a second of nothing happening
        assert poll.thread.is_alive()
        assert (len(queries), live_engine.long_polling.queries) == before
        live_engine.long_polling.reject_parked()
        with pytest.raises(PollRejectedByShutdown):
            poll.answer()


class TestLimitsAndShutdown:
    def test_beyond_the_bound_polls_are_refused_and_the_parked_ones_still_answer(self, live_engine):
        polls = [park(live_engine, request("crowded", worker=f"w{i}"), parked=i + 1) for i in range(3)]
        with pytest.raises(TooManyParkedPolls):
            asyncio.run(live_engine.long_polling.fetch_and_lock(request("crowded", worker="w4"), LONG))
        live_engine.service.create_many([NewExternalTask(topic_name="crowded") for _ in range(3)])
        assert sorted(len(poll.answer()) for poll in polls) == [1, 1, 1]
        assert live_engine.long_polling.parked == 0

    def test_shutdown_answers_every_parked_poll(self, live_engine):
        polls = [park(live_engine, request(f"shutdown-{i}"), parked=i + 1) for i in range(2)]
        live_engine.long_polling.shutdown()
        for poll in polls:
            with pytest.raises(PollRejectedByShutdown):
                poll.answer()


# -- several server processes on PostgreSQL -------------------------------------------------------


@pytest.fixture
def two_engines(postgres_schema_url: str) -> Iterator[tuple[Engine, Engine]]:
    """Two engines on one schema, as two server processes would have."""
    engines = (build_engine(postgres_schema_url), build_engine(postgres_schema_url))
    yield engines
    for engine in engines:
        engine.close()


def listening(engine: Engine) -> None:
    engine.wake_ups.start()
    assert engine.wake_ups.listening.wait(BOUND), "the listener did not connect"


@pytest.mark.postgres
class TestAcrossProcesses:
    def test_a_task_created_through_another_engine_wakes_the_poll(self, two_engines, capsys):
        holder, creator = two_engines
        listening(holder)
        latencies = []
        for trial in range(20):
            poll = park(holder, request(f"remote-{trial}"))
            queries, checks = holder.long_polling.queries, holder.long_polling.checks
            created = creator.service.create(NewExternalTask(topic_name=f"remote-{trial}"))
            committed_at = time.monotonic()
            assert poll.task_ids() == [created.id]
            # Woken by the other engine's NOTIFY: one shared check, then the poll's own fetch.
            assert (holder.long_polling.checks, holder.long_polling.queries) == (checks + 1, queries + 1)
            latencies.append(poll.answered_at - committed_at)
        report("cross-engine wake-up after commit", latencies, capsys)

    def test_engines_on_other_schemas_are_not_woken(self, two_engines):
        holder, _ = two_engines
        listening(holder)
        other_schema = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(postgres_url(), autocommit=True) as admin:
            admin.execute(f'CREATE SCHEMA "{other_schema}"')
        try:
            elsewhere = build_engine(f"{postgres_url()}?schema={other_schema}")
            try:
                poll = park(holder, request("same-topic"))
                checks = holder.long_polling.checks
                elsewhere.service.create(NewExternalTask(topic_name="same-topic"))
                wait_until(lambda: elsewhere.wake_ups.notifications_sent >= 1, what="the other schema's NOTIFY")
                poll.thread.join(0.3)
                assert poll.thread.is_alive() and holder.long_polling.checks == checks
                holder.long_polling.reject_parked()
                with pytest.raises(PollRejectedByShutdown):
                    poll.answer()
            finally:
                elsewhere.close()
        finally:
            with psycopg.connect(postgres_url(), autocommit=True) as admin:
                admin.execute(f'DROP SCHEMA "{other_schema}" CASCADE')

    def test_the_listener_reconnects_after_losing_its_connection(self, two_engines):
        holder, creator = two_engines
        listening(holder)
        channel = holder.wake_ups.channel
        with psycopg.connect(postgres_url(), autocommit=True) as admin:
            [(killed,)] = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query = %s",
                (f'LISTEN "{channel}"',),
            ).fetchall()
        assert killed == 1
        wait_until(lambda: holder.wake_ups.connections == 2, what="the listener to reconnect")
        assert holder.wake_ups.listening.wait(BOUND)
        poll = park(holder, request("after-reconnect"))
        created = creator.service.create(NewExternalTask(topic_name="after-reconnect"))
        assert poll.task_ids() == [created.id]


# -- several processes on one SQLite file ---------------------------------------------------------


@pytest.fixture
def two_engines_on_one_file(sqlite_url: str) -> Iterator[tuple[Engine, Engine]]:
    """Two engines on one SQLite file, as a server and an application embedding the engine have."""
    engines = (build_engine(sqlite_url), build_engine(sqlite_url))
    yield engines
    for engine in engines:
        engine.close()


class TestAcrossProcessesOnSqlite:
    def test_a_task_created_through_another_engine_wakes_the_poll(self, two_engines_on_one_file, capsys):
        holder, creator = two_engines_on_one_file
        latencies = []
        for trial in range(20):
            poll = park(holder, request(f"elsewhere-{trial}"))
            created = creator.service.create(NewExternalTask(topic_name=f"elsewhere-{trial}"))
            committed_at = time.monotonic()
            assert poll.task_ids() == [created.id]
            latencies.append(poll.answered_at - committed_at)
        report("cross-engine wake-up on one SQLite file", latencies, capsys)

    def test_the_other_engine_unlocking_a_task_wakes_the_poll(self, two_engines_on_one_file):
        holder, other = two_engines_on_one_file
        task = other.service.create(NewExternalTask(topic_name="unlocked-elsewhere"))
        other.service.fetch_and_lock(request("unlocked-elsewhere", worker="first"))
        poll = park(holder, request("unlocked-elsewhere"))
        other.service.unlock(task.id)
        assert poll.task_ids() == [task.id]

    def test_the_file_is_looked_at_only_while_polls_are_parked_and_at_once_when_they_park(
        self, two_engines_on_one_file
    ):
        holder, creator = two_engines_on_one_file
        holder.long_polling.start()
        assert holder.wake_ups.watching.wait(BOUND), "the watch did not begin"
        seen = holder.wake_ups.changes_seen
        creator.service.create(NewExternalTask(topic_name="unwatched"))
        time.sleep(0.2)  # four intervals in which nothing may look: there is no event to wait on
        assert holder.wake_ups.changes_seen == seen
        # The first look comes as the poll parks, and notices what was committed before it.
        poll = park(holder, request("looked-at"))
        wait_until(lambda: holder.wake_ups.changes_seen == seen + 1, what="a look as the poll parked")
        created = creator.service.create(NewExternalTask(topic_name="looked-at"))
        assert poll.task_ids() == [created.id]

    def test_the_watch_begins_once_the_file_exists_and_starts_again_after_a_stop(self, tmp_path, caplog):
        path = tmp_path / "later.db"
        signal = SqliteSignal(str(path))
        woken = threading.Event()
        signal.add_listener(woken.set)
        signal.start()
        try:
            wait_until(lambda: "cannot watch" in caplog.text, what="the failed look at a missing file")
            assert not signal.watching.is_set() and not path.exists()  # it did not create the file
            with closing(sqlite3.connect(path)) as connection:
                connection.execute("PRAGMA journal_mode=WAL")
            assert signal.watching.wait(BOUND), "the watch did not begin once the file existed"
            assert woken.wait(BOUND)  # for whatever was committed before the watch began
            signal.stop()
            assert not signal.watcher_running and not signal.watching.is_set()
            signal.start()
            assert signal.watching.wait(BOUND) and signal.watcher_running
        finally:
            signal.close()
        assert not signal.watcher_running

    def test_shutting_down_ends_the_watch(self, two_engines_on_one_file):
        holder, _ = two_engines_on_one_file
        poll = park(holder, request("until-shutdown"))
        assert holder.wake_ups.watching.wait(BOUND)
        holder.long_polling.shutdown()
        with pytest.raises(PollRejectedByShutdown):
            poll.answer()
        assert not holder.wake_ups.watching.is_set()
        assert not holder.wake_ups.watcher_running
