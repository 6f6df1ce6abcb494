"""Properties of the event store as the source of truth, checked on random command sequences:
whatever workers and operators did (including commands that were refused), a verification finds
the live read models equal to a rebuild from the events, a rebuild reproduces them, and the task
as it was at the end of every step is what ``state?at=`` answers for that moment."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extask.application.dto import FetchAndLockRequest, FetchTopic, NewExternalTask
from extask.application.errors import ApplicationError, NotFound
from extask.infrastructure.bootstrap import build_engine
from tests.conftest import FixedClock, postgres_url

TOPICS = ("invoice", "shipping")
WORKERS = ("w1", "w2")
PROCESS_INSTANCES = ("pi-a", "pi-b", "pi-c")


@dataclass(frozen=True)
class Step:
    command: str
    args: tuple[Any, ...]
    advance_ms: int


task_index = st.integers(0, 20)
steps = st.builds(
    Step,
    command=st.sampled_from([
        "create", "create", "fetch", "fetch", "complete", "fail", "set_retries", "set_priority",
        "bpmn_error", "unlock", "suspend", "activate", "delete", "catch_up",
    ]),
    args=st.tuples(task_index, st.sampled_from(WORKERS), st.integers(0, 3), st.integers(0, 2_000)),
    advance_ms=st.integers(1, 5_000),
)


def run(step: Step, service: Any, engine: Any, task_ids: list[str]) -> None:
    index, worker, small, duration = step.args
    task_id = task_ids[index % len(task_ids)] if task_ids else None
    pi = PROCESS_INSTANCES[index % len(PROCESS_INSTANCES)]
    if step.command == "create":
        task = service.create(NewExternalTask(
            topic_name=TOPICS[index % 2], process_instance_id=pi, priority=small,
            retries=None if small else 2, variables={"n": index}, local_variables={"step": small},
        ))
        task_ids.append(task.id)
    elif step.command == "fetch":
        service.fetch_and_lock(FetchAndLockRequest(
            worker_id=worker, max_tasks=small + 1,
            topics=[FetchTopic(topic_name=TOPICS[index % 2], lock_duration=duration + 1)],
        ))
    elif step.command == "catch_up":
        engine.history.catch_up()
    elif step.command in ("suspend", "activate", "delete"):
        getattr(service, f"{step.command}_process_instance")(pi)
    elif task_id is None:
        return
    elif step.command == "complete":
        service.complete(task_id, worker, variables={"done": index}, local_variables={"by": worker})
    elif step.command == "fail":
        service.handle_failure(
            task_id, worker, error_message=f"error {index}", error_details=f"details {index}" if small else None,
            retries=small, retry_timeout=duration,
        )
    elif step.command == "set_retries":
        service.set_retries(task_id, small)
    elif step.command == "set_priority":
        service.set_priority(task_id, index)
    elif step.command == "bpmn_error":
        service.handle_bpmn_error(task_id, worker, f"CODE_{small}", error_message="business error")
    elif step.command == "unlock":
        service.unlock(task_id)


def runtime_state(service: Any, task_id: str) -> Any:
    try:
        return service.get_task(task_id)
    except NotFound:
        return None


def state_at(engine: Any, task_id: str, moment: Any) -> Any:
    try:
        return engine.audit.task_state_at(task_id, moment)
    except NotFound:
        return None


def check_the_event_store_is_the_source_of_truth(database_url: str, commands: list[Step]) -> None:
    clock = FixedClock()
    engine = build_engine(database_url, clock=clock)
    try:
        service, task_ids, recorded = engine.service, [], []
        for step in commands:
            clock.advance(step.advance_ms)
            try:
                run(step, service, engine, task_ids)
            except ApplicationError:
                pass  # refused commands are part of the story: they must change nothing
            recorded.append((clock(), {task_id: runtime_state(service, task_id) for task_id in task_ids}))

        assert engine.replay.verify().differences == []
        engine.replay.rebuild()
        assert engine.replay.verify().differences == []
        for moment, states in recorded:
            for task_id, state in states.items():
                assert state_at(engine, task_id, moment) == state, (task_id, moment)
    finally:
        engine.close()


PROPERTY_SETTINGS = settings(
    max_examples=25, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@PROPERTY_SETTINGS
@given(commands=st.lists(steps, min_size=1, max_size=30))
def test_on_sqlite_replay_and_time_travel_agree_with_what_happened(tmp_path_factory, commands):
    directory = tmp_path_factory.mktemp("property")
    check_the_event_store_is_the_source_of_truth(f"sqlite:///{directory / 'extask.db'}", commands)


@pytest.mark.postgres
@PROPERTY_SETTINGS
@given(commands=st.lists(steps, min_size=1, max_size=30))
def test_on_postgres_replay_and_time_travel_agree_with_what_happened(postgres_available, commands):
    if not postgres_available:
        pytest.skip("PostgreSQL is not reachable")
    schema = f"p_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_url(), autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        separator = "&" if "?" in postgres_url() else "?"
        check_the_event_store_is_the_source_of_truth(f"{postgres_url()}{separator}schema={schema}", commands)
    finally:
        with psycopg.connect(postgres_url(), autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
