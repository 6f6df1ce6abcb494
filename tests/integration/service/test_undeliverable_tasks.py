"""Fetch-and-lock never leaves tasks locked that it did not hand out (issue 23, point 2), and one
fetch asks only so much (point 5).

* When the answer cannot be built after the locks were committed, they are given back
  (``Unlocked``) and the error reaches the caller: the tasks are fetchable again at once.
* A task whose own answer cannot be built (poison data stored before extask refused it) is not
  handed out: it fails with no retries left, and its incident says why; the tasks beside it go
  out. ``handle_undeliverable`` does the same for the REST layer, ``give_back`` unlocks what a
  client that went away never received; neither touches a task no longer under that lock.
* ``maxTasks``, the topics of one fetch, and a topic's lists and conditions are bounded by the
  engine's ``Limits``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from extask.application.dto import FetchAndLockRequest, FetchTopic
from extask.application.errors import BadRequest
from extask.application.limits import Limits
from extask.domain.external_task import ExternalTask
from extask.infrastructure.bootstrap import Engine, build_engine

from .helpers import (
    ANOTHER_WORKER_ID,
    LOCK_TIME,
    WORKER_ID,
    create_task,
    event_names,
    fetch,
    ids,
    incidents,
    raises,
)


class ReadModelDown(Exception):
    """Stands for any failure of a read made after the locks were committed."""


def store_task_past_the_checks(engine: Engine, clock, topic: str, local_variables: dict) -> str:
    """A task written straight into the event store, as data from before a check would be."""
    task = ExternalTask.create(
        now=clock.now, topic_name=topic, process_instance_id=f"pi-poison-{topic}", local_variables=local_variables
    )
    engine.event_store.commit([[task]])
    return str(task.id)


class TestTheAnswerCannotBeBuilt:
    def test_a_read_failing_after_the_locks_were_committed_gives_them_back(self, engine, service, monkeypatch):
        created = [create_task(service).id for _ in range(3)]

        def unavailable(instance_ids):
            raise ReadModelDown("the process variables could not be read")

        monkeypatch.setattr(engine.runtime, "process_variables", unavailable)
        with pytest.raises(ReadModelDown):
            fetch(service, max_tasks=3)
        monkeypatch.undo()

        assert all(event_names(engine, task_id) == ["Created", "Locked", "Unlocked"] for task_id in created)
        assert sorted(ids(fetch(service, ANOTHER_WORKER_ID, max_tasks=3))) == sorted(created)

    def test_a_task_whose_stored_variable_cannot_be_read_ends_in_an_incident_and_the_others_go_out(
        self, engine, service, clock
    ):
        first = create_task(service).id
        broken = {"type": "String", "value": "x", "valueInfo": ["not", "a", "map"]}
        poison = store_task_past_the_checks(engine, clock, "externalTaskTopic", {"broken": broken})
        last = create_task(service).id

        delivered = fetch(service, max_tasks=3)

        assert sorted(ids(delivered)) == sorted([first, last])
        message = "could not be delivered: ValueError: dictionary update sequence element #0 has length 3; 2 is required"
        task = service.get_task(poison)
        assert (task.retries, task.error_message) == (0, message)
        assert [incident.incident_message for incident in incidents(service, configuration=poison)] == [message]
        assert fetch(service, ANOTHER_WORKER_ID, max_tasks=3) == []  # not fetched again and again


class TestHandleUndeliverable:
    def test_the_task_fails_with_no_retries_left_and_an_incident_says_why(self, engine, service, locked):
        service.handle_undeliverable(locked, "its answer cannot be written as JSON: too deep")

        message = "could not be delivered: its answer cannot be written as JSON: too deep"
        task = service.get_task(locked.task.id)
        assert (task.retries, task.error_message, task.worker_id) == (0, message, WORKER_ID)
        assert [i.incident_message for i in incidents(service, configuration=locked.task.id)] == [message]
        assert event_names(engine, locked.task.id) == ["Created", "Locked", "Failed", "IncidentCreated"]
        assert fetch(service, ANOTHER_WORKER_ID) == []

    def test_a_task_locked_again_by_another_worker_since_is_left_alone(self, engine, service, clock, locked):
        clock.advance(LOCK_TIME + 1)
        [again] = fetch(service, ANOTHER_WORKER_ID)

        service.handle_undeliverable(locked, "too deep")

        task = service.get_task(locked.task.id)
        assert (task.worker_id, task.retries, task.error_message) == (ANOTHER_WORKER_ID, None, None)
        assert event_names(engine, again.task.id) == ["Created", "Locked", "Locked"]


class TestGiveBack:
    def test_given_back_tasks_are_fetchable_at_once_by_another_worker(self, engine, service):
        created = [create_task(service).id for _ in range(2)]
        locked = fetch(service, max_tasks=2)

        service.give_back(locked)

        assert all(event_names(engine, task_id) == ["Created", "Locked", "Unlocked"] for task_id in created)
        assert sorted(ids(fetch(service, ANOTHER_WORKER_ID, max_tasks=2))) == sorted(created)

    def test_a_task_whose_lock_changed_or_that_ended_since_is_left_alone(self, engine, service, clock):
        extended, completed, refetched = (create_task(service).id for _ in range(3))
        locked = fetch(service, max_tasks=3)
        service.extend_lock(extended, WORKER_ID, 2 * LOCK_TIME)
        service.complete(completed, WORKER_ID)
        clock.advance(LOCK_TIME + 1)
        service.unlock(refetched)
        assert ids(fetch(service, ANOTHER_WORKER_ID, max_tasks=3)) == [refetched]

        service.give_back(locked)

        assert service.get_task(extended).worker_id == WORKER_ID
        assert event_names(engine, completed)[-1] == "Completed"
        assert service.get_task(refetched).worker_id == ANOTHER_WORKER_ID

    def test_tasks_another_command_is_busy_with_are_given_back_all_the_same(self, engine, service):
        """The batch skips tasks whose command stripe is held; those are given back one by one."""
        [task_id] = [create_task(service).id]
        [locked] = fetch(service)
        stripe = service._command_lock(task_id)
        with stripe:  # as if another command here were on it: the give-back waits its turn
            giving_back = threading.Thread(target=service.give_back, args=([locked],))
            giving_back.start()
            giving_back.join(0.2)
            assert giving_back.is_alive()
        giving_back.join(10)
        assert event_names(engine, task_id) == ["Created", "Locked", "Unlocked"]


SMALL = Limits(max_tasks_per_fetch=10, topics_per_fetch=3, values_per_list=2, conditions_per_query=2)


@pytest.fixture
def small_engine(database_url: str, clock) -> Iterator[Engine]:
    engine = build_engine(database_url, clock=clock, limits=SMALL)
    yield engine
    engine.close()


def request(max_tasks: int = 1, topics: int = 1, **topic_options) -> FetchAndLockRequest:
    return FetchAndLockRequest(
        worker_id=WORKER_ID,
        max_tasks=max_tasks,
        topics=[FetchTopic(f"topic-{i}", LOCK_TIME, **topic_options) for i in range(topics)],
    )


class TestBoundedFetches:
    def test_more_tasks_than_the_limit_are_refused_and_nothing_is_locked(self, small_engine):
        service = small_engine.service
        task = create_task(service, topic="topic-0")
        with raises(BadRequest, "maxTasks: 11 is more than the limit of 10 (max_tasks_per_fetch)", "InvalidRequestException"):
            service.fetch_and_lock(request(max_tasks=11))
        assert service.get_task(task.id).worker_id is None
        assert [t.task.id for t in service.fetch_and_lock(request(max_tasks=10))] == [task.id]

    def test_more_topics_than_the_limit_are_refused(self, small_engine):
        with raises(BadRequest, "Topics in one fetch: 4 is more than the limit of 3 (topics_per_fetch)"):
            small_engine.service.fetch_and_lock(request(topics=4))
        assert small_engine.service.fetch_and_lock(request(topics=3)) == []

    def test_a_topic_named_again_and_again_counts_each_time(self, small_engine):
        twice = FetchAndLockRequest(WORKER_ID, 1, [FetchTopic("same", LOCK_TIME) for _ in range(4)])
        with raises(BadRequest, "Topics in one fetch: 4 is more than the limit of 3 (topics_per_fetch)"):
            small_engine.service.fetch_and_lock(twice)

    @pytest.mark.parametrize(
        "option, what",
        [
            ("process_definition_id_in", "processDefinitionIdIn"),
            ("process_definition_key_in", "processDefinitionKeyIn"),
            ("tenant_id_in", "tenantIdIn"),
            ("variables", "variables"),
        ],
    )
    def test_a_topics_list_longer_than_the_limit_is_refused(self, small_engine, option, what):
        with raises(BadRequest, f"Values of {what}: 3 is more than the limit of 2 (values_per_list)"):
            small_engine.service.fetch_and_lock(request(**{option: ["a", "b", "c"]}))
        assert small_engine.service.fetch_and_lock(request(**{option: ["a", "b"]})) == []

    def test_more_process_variable_conditions_than_the_limit_are_refused(self, small_engine):
        with raises(BadRequest, "Conditions in processVariables: 3 is more than the limit of 2 (conditions_per_query)"):
            small_engine.service.fetch_and_lock(request(process_variables={"a": 1, "b": 2, "c": 3}))

    def test_by_default_a_fetch_names_at_most_200_topics_and_asks_for_at_most_10000_tasks(self, service):
        topics = [FetchTopic(f"t{i}", LOCK_TIME) for i in range(201)]
        assert service.fetch_and_lock(FetchAndLockRequest(WORKER_ID, 10_000, topics[:200])) == []
        with raises(BadRequest, "Topics in one fetch: 201 is more than the limit of 200 (topics_per_fetch)"):
            service.fetch_and_lock(FetchAndLockRequest(WORKER_ID, 1, topics))
        with raises(BadRequest, "maxTasks: 10001 is more than the limit of 10000 (max_tasks_per_fetch)"):
            service.fetch_and_lock(FetchAndLockRequest(WORKER_ID, 10_001, topics[:1]))
