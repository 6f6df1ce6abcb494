"""A database written before extask's packages moved under the ``extask`` root still works.

Its events name their classes by the former topics (``domain.external_task:ExternalTask.Created``).
Each test writes a history, rewrites its stored topics to that former spelling behind extask's
back, and opens the database with a new engine, as the upgraded server would.
"""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from extask.domain.batch import Batch
from extask.domain.external_task import ExternalTask
from extask.infrastructure.bootstrap import build_engine
from tests.engine_sql import run_sql

from .helpers import create_task, fetch_one


def events(engine) -> str:
    return "{%s}" % engine.event_store.recorder.events_table_name


def stored_topics(engine, database_url) -> set[str]:
    return {row["topic"] for row in run_sql(engine, database_url, f"SELECT DISTINCT topic FROM {events(engine)}")}


def as_before_the_move(engine, database_url) -> None:
    run_sql(engine, database_url, f"UPDATE {events(engine)} SET topic = substr(topic, 8) WHERE substr(topic, 1, 7) = 'extask.'")
    assert all(not topic.startswith("extask.") for topic in stored_topics(engine, database_url))


@pytest.fixture
def reopened(engine, database_url, clock):
    """The engine's database, its topics in the former spelling, opened by a new engine."""

    def reopen():
        as_before_the_move(engine, database_url)
        engine.close()
        upgraded = build_engine(database_url, clock=clock)
        opened.append(upgraded)
        return upgraded

    opened = []
    yield reopen
    for upgraded in opened:
        upgraded.close()


def test_tasks_stored_under_the_former_topics_load_as_todays_classes(service, engine, database_url, reopened):
    create_task(service)
    locked = fetch_one(service)
    upgraded = reopened()

    loaded = upgraded.event_store.repository.get(UUID(locked.task.id))
    assert type(loaded) is ExternalTask
    upgraded.service.complete(locked.task.id, locked.task.worker_id, variables={"paid": True})
    assert upgraded.service.get_process_variables(locked.task.process_instance_id)["paid"].to_python() is True


def test_a_history_of_former_and_new_topics_replays_without_a_difference(service, engine, database_url, reopened):
    create_task(service)
    locked = fetch_one(service)
    upgraded = reopened()
    upgraded.service.handle_failure(locked.task.id, locked.task.worker_id, error_message="down", retries=0)

    assert any(t.startswith("extask.") for t in stored_topics(upgraded, database_url))
    assert upgraded.replay.verify().differences == []
    upgraded.replay.rebuild()
    assert upgraded.service.get_task(locked.task.id).retries == 0


def test_an_unfinished_batch_stored_under_the_former_topics_is_still_found(engine, database_url, clock, reopened):
    batch = Batch.set_external_task_retries(now=clock.now, batch_id=uuid4(), retries=3, external_task_ids=["t-1"])
    batch.start(clock.now)
    engine.event_store.save(batch)
    upgraded = reopened()

    assert batch.id in upgraded.event_store.unfinished_batch_ids()
