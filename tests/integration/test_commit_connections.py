"""The engine's connections to PostgreSQL after the server closed them (as a restart of the
database does): the group-commit writers' kept ones and the pool's idle ones are replaced, and
no command or read fails for it. The writers' connections are given back when the engine closes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from extask.application.dto import FetchAndLockRequest, FetchTopic, NewExternalTask
from extask.application.queries import ExternalTaskQuery, HistoricExternalTaskLogQuery
from extask.infrastructure.bootstrap import Engine, build_engine
from extask.infrastructure.persistence.database import settings_from_url

pytestmark = pytest.mark.postgres


def backends(admin: psycopg.Connection, query_like: str = "%") -> set[int]:
    """The server processes of this database's other client connections (whose last query is like
    ``query_like``)."""
    rows = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' "
        "AND pid <> pg_backend_pid() AND query LIKE %s",
        (query_like,),
    ).fetchall()
    return {pid for (pid,) in rows}


def commit_backends(admin: psycopg.Connection, schema: str) -> set[int]:
    """The server processes of connections that have sent this schema's commit statement."""
    return backends(admin, f'%"{schema}".extask_commit_groups%')


def wait_until(condition, what: str) -> None:
    """The server lists a closed connection until its process has ended: asked until then."""
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)  # polling the server's activity view: there is nothing to be told


def end_server_processes(admin: psycopg.Connection, pids: set[int]) -> None:
    for pid in pids:
        # Waits (up to 5 s) until the server process has ended, its socket closed. A process that
        # ended on its own meanwhile (a connection the engine closed) is not there to be ended.
        [[ended]] = admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,)).fetchall()
        assert ended or not backends_with_pid(admin, pid)


def backends_with_pid(admin: psycopg.Connection, pid: int) -> list:
    return admin.execute("SELECT pid FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchall()


@contextmanager
def engine_with_three_tasks(url: str) -> Iterator[tuple[psycopg.Connection, set[int], Engine, list]]:
    """An admin connection, the server processes that are not the engine's, and an engine whose
    service has just created three tasks on the topic "restart"."""
    settings = settings_from_url(url)
    with psycopg.connect(settings.admin_url, autocommit=True) as admin:
        others = backends(admin)
        engine = build_engine(url)
        try:
            tasks = engine.service.create_many([NewExternalTask(topic_name="restart") for _ in range(3)])
            yield admin, others, engine, tasks
        finally:
            engine.close()


def test_reads_answer_after_the_server_closed_all_the_engines_connections(postgres_schema_url):
    """Every idle connection of the pool is closed by the server; the reads that borrow them (a
    fetch's queries, the runtime and history queries, a task's events) are answered all the same,
    on new connections."""
    with engine_with_three_tasks(postgres_schema_url) as (admin, others, engine, tasks):
        service = engine.service
        assert service.count_tasks(ExternalTaskQuery()) == 3  # the pool has opened its connections
        engine.history.catch_up()
        closed = backends(admin) - others
        assert len(closed) >= 2
        end_server_processes(admin, closed)

        assert service.get_task(tasks[0].id).topic_name == "restart"
        assert service.count_tasks(ExternalTaskQuery(topic_name="restart")) == 3
        assert [event.type for event in engine.audit.task_events(tasks[1].id)] == ["Created"]
        assert service.count_history_log(HistoricExternalTaskLogQuery()) == 3
        topics = [FetchTopic(topic_name="restart", lock_duration=60_000)]
        assert len(service.fetch_and_lock(FetchAndLockRequest(worker_id="w", max_tasks=5, topics=topics))) == 3


def test_commands_commit_after_the_server_closed_all_the_engines_connections(postgres_schema_url):
    """As after a restart of the database: the writers' kept connections and the pool's idle ones
    are all closed by the server, and the next commands commit all the same."""
    schema = settings_from_url(postgres_schema_url).schema
    with engine_with_three_tasks(postgres_schema_url) as (admin, others, engine, tasks):
        service = engine.service
        service.lock(tasks[0].id, "w", 60_000)
        kept = commit_backends(admin, schema)
        assert kept
        end_server_processes(admin, backends(admin) - others)

        service.complete(tasks[0].id, "w")
        for task in tasks[1:]:
            service.lock(task.id, "w", 60_000)
            service.complete(task.id, "w")

        [[left]] = admin.execute(f'SELECT count(*) FROM "{schema}".ext_task').fetchall()
        assert left == 0  # all three completed
        assert commit_backends(admin, schema) - kept  # on a connection opened since


def test_closing_the_engine_closes_the_writers_connections(postgres_schema_url):
    settings = settings_from_url(postgres_schema_url)
    with psycopg.connect(settings.admin_url, autocommit=True) as admin:
        engine = build_engine(postgres_schema_url)
        try:
            task = engine.service.create(NewExternalTask(topic_name="close"))
            engine.service.lock(task.id, "w", 60_000)
            assert commit_backends(admin, settings.schema)
        finally:
            engine.close()
        wait_until(lambda: not commit_backends(admin, settings.schema), "the writers' connections stayed open")
