"""The connections PostgreSQL's group-commit writers keep: replaced when the server drops them,
given back when the engine closes."""

from __future__ import annotations

import time

import psycopg
import pytest

from application.dto import NewExternalTask
from application.queries import ExternalTaskQuery
from infrastructure.bootstrap import build_engine
from infrastructure.persistence.database import settings_from_url

pytestmark = pytest.mark.postgres


def commit_backends(admin: psycopg.Connection, schema: str) -> list[int]:
    """The server processes of connections that have sent this schema's commit statement."""
    rows = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE query LIKE %s AND pid <> pg_backend_pid()",
        (f'%"{schema}".extask_commit_groups%',),
    ).fetchall()
    return [pid for (pid,) in rows]


def test_commands_after_the_server_dropped_the_writers_connections_commit(postgres_schema_url):
    """As after a restart of the database: every kept connection is gone, and no command fails."""
    settings = settings_from_url(postgres_schema_url)
    engine = build_engine(postgres_schema_url)
    service = engine.service
    try:
        tasks = service.create_many([NewExternalTask(topic_name="restart") for _ in range(3)])
        service.lock(tasks[0].id, "w", 60_000)
        with psycopg.connect(settings.admin_url, autocommit=True) as admin:
            dropped = commit_backends(admin, settings.schema)
            assert dropped
            for pid in dropped:
                # Waits (up to 5 s) until the server process has ended, its socket closed.
                [[ended]] = admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,)).fetchall()
                assert ended

            service.complete(tasks[0].id, "w")
            for task in tasks[1:]:
                service.lock(task.id, "w", 60_000)
                service.complete(task.id, "w")

            assert service.count_tasks(ExternalTaskQuery()) == 0  # all three completed
            assert not set(commit_backends(admin, settings.schema)) & set(dropped)
    finally:
        engine.close()


def test_closing_the_engine_closes_the_writers_connections(postgres_schema_url):
    settings = settings_from_url(postgres_schema_url)
    engine = build_engine(postgres_schema_url)
    service = engine.service
    task = service.create(NewExternalTask(topic_name="close"))
    service.lock(task.id, "w", 60_000)
    with psycopg.connect(settings.admin_url, autocommit=True) as admin:
        assert commit_backends(admin, settings.schema)
        engine.close()
        # The server lists a closed connection until its process has ended: asked until then.
        deadline = time.monotonic() + 10
        while commit_backends(admin, settings.schema):
            assert time.monotonic() < deadline, "the writers' connections stayed open after close"
