"""Group commit: commands that arrive together share a transaction, and a conflict stays alone,
also between two transactions in flight at once (PostgreSQL's two writers)."""

from __future__ import annotations

import random
import string
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from uuid import UUID

import psycopg
import pytest
from eventsourcing.utils import get_topic

from extask.application.dto import NewExternalTask
from extask.application.limits import Limits
from extask.domain.external_task import ExternalTask
from extask.domain.process_instance import ProcessInstance
from extask.infrastructure.bootstrap import build_engine
from extask.infrastructure.persistence.database import settings_from_url
from extask.infrastructure.persistence.runtime_projection import MissingTaskRow
from tests.engine_sql import run_sql


def stored_version(engine, task_id: str) -> int:
    return engine.event_store.repository.get(UUID(task_id)).version


def test_a_conflicting_command_in_a_batch_fails_alone(engine, service, clock):
    """Three commands in one transaction; one decided on a version another writer already used is
    refused, the other two commit."""
    first, second, third = (service.create(NewExternalTask(topic_name="group")) for _ in range(3))
    stale = engine.event_store.repository.get(UUID(second.id))  # seen before a concurrent change
    service.set_priority(second.id, 7)  # the concurrent writer

    groups = []
    for task_id in (first.id, second.id, third.id):
        task = stale if task_id == second.id else engine.event_store.repository.get(UUID(task_id))
        task.set_priority(42, clock())
        groups.append([task])

    assert engine.event_store.commit(groups) == [True, False, True]
    assert [service.get_task(t.id).priority for t in (first, second, third)] == [42, 7, 42]
    assert stored_version(engine, second.id) == 2


def test_two_commands_on_one_aggregate_in_one_batch_commit_only_the_first(engine, clock):
    """Both continue version 1; inside one batch the second must see the first, so it is refused."""
    task = ExternalTask.create(now=clock(), topic_name="group", process_instance_id="pi")
    engine.event_store.commit([[task]])
    one = engine.event_store.repository.get(task.id)
    two = engine.event_store.repository.get(task.id)
    one.set_priority(1, clock())
    two.set_priority(2, clock())

    assert engine.event_store.commit([[one], [two]]) == [True, False]
    assert engine.event_store.repository.get(task.id).priority == 1


def test_concurrent_commands_share_transactions(engine, service, monkeypatch):
    """Sixteen threads completing tasks at once need fewer transactions than commands."""
    tasks = service.create_many([NewExternalTask(topic_name="group") for _ in range(64)])
    for task in tasks:
        service.lock(task.id, "w", 60_000)
    transactions = []
    real_write = engine.event_store.write

    def counting_write(groups):
        transactions.append(len(groups))
        return real_write(groups)

    # The committer was built with the real bound method; route it through the counter.
    monkeypatch.setattr(service._committer, "_write_groups", counting_write)
    start = threading.Barrier(16)

    def complete(index: int) -> None:
        start.wait()
        for task in tasks[index::16]:
            service.complete(task.id, "w")

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(complete, range(16)))

    assert sum(transactions) == 64
    assert len(transactions) < 64


def test_a_lock_change_that_finds_no_task_row_fails_and_writes_nothing(engine, service, database_url):
    """A lock updates its task's row in place; a row gone (removed by hand) is not silently
    passed over: the command fails, no event is stored, and the other groups fail with it."""
    gone, other = (service.create(NewExternalTask(topic_name="group")) for _ in range(2))
    run_sql(engine, database_url, "DELETE FROM {ext_task} WHERE id = ?", (gone.id,))
    groups = []
    for task_id in (gone.id, other.id):
        task = engine.event_store.repository.get(UUID(task_id))
        task.lock("w", 60_000, datetime.now(timezone.utc))
        groups.append([task])

    with pytest.raises(MissingTaskRow, match="2 lock changes found 1 task rows"):
        engine.event_store.commit(groups)
    assert stored_version(engine, gone.id) == stored_version(engine, other.id) == 1
    assert service.get_task(other.id).worker_id is None


def transactions_waiting_for(connection: psycopg.Connection, schema: str, table: str, count: int) -> None:
    """Return once ``count`` transactions wait for a lock on ``table`` (there is nothing to be told
    of it, so PostgreSQL's lock view is asked until then)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        [[waiting]] = connection.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s AND NOT l.granted",
            (schema, table),
        ).fetchall()
        if waiting >= count:
            return
    raise AssertionError(f"{count} transactions never waited for {table}")


@pytest.mark.postgres
def test_two_transactions_in_flight_that_change_one_process_instance_both_end_committed(postgres_schema_url):
    """Two completions that set variables of one process instance, each in a transaction of its
    own, both sent while a third party holds the event store's lock: the later one finds the
    instance already moved on, and its command is decided again. Both tasks end completed, and
    the instance keeps both variables."""
    engine = build_engine(postgres_schema_url)
    service = engine.service
    settings = settings_from_url(postgres_schema_url)
    events_table = engine.event_store.recorder.events_table_name
    try:
        tasks = service.create_many([NewExternalTask(topic_name="shared", process_instance_id="pi") for _ in range(2)])
        for task in tasks:
            service.lock(task.id, "w", 60_000)
        with psycopg.connect(settings.admin_url) as holder, psycopg.connect(settings.admin_url, autocommit=True) as watcher:
            holder.execute(f'LOCK TABLE "{settings.schema}"."{events_table}" IN EXCLUSIVE MODE')
            with ThreadPoolExecutor(max_workers=2) as pool:
                # One after the other: sent together, both could share one transaction.
                completions = []
                for n, task in enumerate(tasks):
                    completions.append(pool.submit(service.complete, task.id, "w", variables={f"v{n}": n}))
                    transactions_waiting_for(watcher, settings.schema, events_table, n + 1)
                holder.commit()
                assert [completion.result() for completion in completions] == [None, None]

        assert [engine.runtime.get_task(task.id) for task in tasks] == [None, None]
        assert {name: value.value for name, value in service.get_process_variables("pi").items()} == {"v0": 0, "v1": 1}
        instance_id = ProcessInstance.aggregate_id("pi")
        versions = [e.originator_version for e in engine.event_store.recorder.select_events(instance_id)]
        assert versions == list(range(1, len(versions) + 1))
    finally:
        engine.close()


def queued_for_the_writers(service, count: int) -> None:
    """Return once ``count`` commands wait in the group committer's queue (nothing tells when a
    thread has queued, so the queue is asked until then)."""
    deadline = time.monotonic() + 10
    while service._committer._queue.qsize() < count:
        assert time.monotonic() < deadline, f"{count} commands never queued for the writers"
        time.sleep(0.005)


@pytest.mark.postgres
def test_a_create_the_database_fails_on_fails_alone_among_concurrent_ones(postgres_schema_url):
    """Creates sent while a third party holds the event store's lock queue up and share the next
    transaction. One of them carries a topic name too large for a B-tree index entry (random, so
    it does not compress): the database fails the transaction, and not with a refusal extask
    foresaw. Only that create fails; every other one commits, and nothing of the failed one is
    stored."""
    # A name limit beyond what an index entry holds, so that the database is what refuses it.
    engine = build_engine(postgres_schema_url, limits=Limits(name_characters=50_000))
    service = engine.service
    settings = settings_from_url(postgres_schema_url)
    events_table = engine.event_store.recorder.events_table_name
    oversized = "".join(random.choices(string.ascii_letters + string.digits, k=20_000))
    topics = ["fine"] * 4 + [oversized] + ["fine"] * 4
    try:
        with psycopg.connect(settings.admin_url) as holder, psycopg.connect(settings.admin_url, autocommit=True) as watcher:
            holder.execute(f'LOCK TABLE "{settings.schema}"."{events_table}" IN EXCLUSIVE MODE')
            with ThreadPoolExecutor(max_workers=len(topics) + 2) as pool:
                # Two creates hold the two writers, waiting on the lock (one after the other: sent
                # together, both could share one transaction); the rest queue behind them.
                ahead = []
                for n in range(2):
                    ahead.append(pool.submit(service.create, NewExternalTask(topic_name="ahead")))
                    transactions_waiting_for(watcher, settings.schema, events_table, n + 1)
                creates = [pool.submit(service.create, NewExternalTask(topic_name=topic)) for topic in topics]
                queued_for_the_writers(service, len(topics))
                holder.commit()
                outcomes = [create.exception() or create.result() for create in ahead + creates]

        failed = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
        assert len(failed) == 1 and "index row" in str(failed[0]), failed
        created = [outcome for outcome in outcomes if not isinstance(outcome, Exception)]
        assert sorted(task.topic_name for task in created) == ["ahead"] * 2 + ["fine"] * 8
        assert all(service.get_task(task.id) is not None for task in created)
        [row] = run_sql(
            engine, postgres_schema_url,
            f"SELECT count(*) AS n FROM {{{events_table}}} WHERE topic = ?", (get_topic(ExternalTask.Created),),
        )
        assert row["n"] == len(created)  # nothing of the failed create
    finally:
        engine.close()
