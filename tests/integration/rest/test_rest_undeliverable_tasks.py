"""A task whose answer cannot be written never blocks the tasks beside it (issue 23, point 2).

Such a task is written into the store past today's input checks, as data stored before them
would be: a ``valueInfo`` nested 300 levels deep, in a process variable or in a local one. Its
fetch answers 200 with the other tasks (both ways through the app, the worker commands' short
way and FastAPI's route, end in the same route function); the task itself ends in an incident
whose message says why, and is not fetched again.
"""

from __future__ import annotations

import pytest

from extask.domain.external_task import ExternalTask
from extask.domain.process_instance import ProcessInstance
from extask.infrastructure.rest.schemas import LockedExternalTask

UNDELIVERABLE = "could not be delivered: its answer cannot be written as JSON: Maximum serialization depth exceeded"


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


POISON = {"doc": {"type": "String", "value": "x", "valueInfo": nested(300)}}


def store_past_the_checks(api, topic: str, where: str) -> str:
    now = api.engine.service._now()
    instance_id = f"pi-{topic}-{where}"
    instance = ProcessInstance.start(
        now=now, process_instance_id=instance_id, variables=POISON if where == "process variable" else {}
    )
    task = ExternalTask.create(
        now=now, topic_name=topic, process_instance_id=instance_id,
        local_variables=POISON if where == "local variable" else {},
    )
    api.engine.event_store.commit([[instance, task]])
    return str(task.id)


def fetch(api, topic: str, max_tasks: int = 10):
    body = {"workerId": "w", "maxTasks": max_tasks, "topics": [{"topicName": topic, "lockDuration": 60_000}]}
    return api.post("/external-task/fetchAndLock", json=body)


@pytest.mark.parametrize("where", ["process variable", "local variable"])
def test_the_tasks_beside_a_poison_task_are_delivered_and_it_ends_in_an_incident(api, where):
    before = api.create_task("mixed")["id"]
    poisoned = store_past_the_checks(api, "mixed", where)
    after = api.create_task("mixed")["id"]

    response = fetch(api, "mixed")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert sorted(task["id"] for task in response.json()) == sorted([before, after])
    task = api.task(poisoned)
    assert (task["retries"], task["errorMessage"], task["workerId"]) == (0, UNDELIVERABLE, "w")
    incidents = api.get("/incident", params={"configuration": poisoned}).json()
    assert [incident["incidentMessage"] for incident in incidents] == [UNDELIVERABLE]
    assert fetch(api, "mixed").json() == []  # not fetched again after its lock


def test_an_answer_with_nothing_but_a_poison_task_is_an_empty_list(api):
    store_past_the_checks(api, "alone", "local variable")
    response = fetch(api, "alone")
    assert (response.status_code, response.json()) == (200, [])


def test_a_poison_task_that_could_not_be_failed_is_still_left_out(api):
    """Were its failure refused (another worker took it meanwhile, say), the answer goes out all the same."""
    poisoned = store_past_the_checks(api, "refused", "local variable")
    beside = api.create_task("refused")["id"]
    api.engine.service.handle_undeliverable_async = _refuse  # type: ignore[method-assign]
    try:
        response = fetch(api, "refused")
    finally:
        del api.engine.service.handle_undeliverable_async
    assert [task["id"] for task in response.json()] == [beside]
    assert api.task(poisoned)["retries"] is None  # untouched: its lock expires as any would


async def _refuse(locked, problem):
    raise RuntimeError("refused")


def test_an_error_that_is_no_fault_of_the_data_answers_no_task_and_gives_every_lock_back(api, monkeypatch):
    first, second = api.create_task("broken")["id"], api.create_task("broken")["id"]

    def broken_code(locked):
        raise RuntimeError("a bug, not the task's data")

    monkeypatch.setattr(LockedExternalTask, "from_locked", staticmethod(broken_code))
    response = fetch(api, "broken")
    monkeypatch.undo()

    assert response.status_code == 500
    for task_id in (first, second):
        task = api.task(task_id)
        assert task["workerId"] is None and task["retries"] is None  # free again, and no incident
    assert sorted(task["id"] for task in fetch(api, "broken").json()) == sorted([first, second])
