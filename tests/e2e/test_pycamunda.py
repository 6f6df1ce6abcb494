"""pycamunda 0.6.1, unmodified, against a real ``extask serve`` process.

pycamunda is a typed wrapper over Camunda's REST API with strict response parsing: its
``ExternalTask.load`` indexes every field it knows (a missing key raises ``KeyError``), dates go
through ``strptime('%Y-%m-%dT%H:%M:%S.%f%z')`` (milliseconds and a ``+0000`` offset are mandatory),
variables need ``type``, ``value`` and ``valueInfo``, and ``Get`` / ``GetList`` fetch
``/errorDetails`` as text for every task without details. So each call below that returns without
an exception is itself a check of the server's answers.

Tasks are created through extask's own ``POST /external-task/create``; the effects are checked with
pycamunda's own read requests where it has them (``externaltask.Get`` / ``GetList`` / ``Count``,
``incident.GetList``, ``processinst.VariablesGetList``) and over HTTP for the history.

Client limitations (not server behaviour), noted where they matter: pycamunda serialises
``datetime`` only at the top level of a body, so a Date *variable* has to be given as a Camunda date
string; pycamunda validates ``retries >= 0`` itself, so a ``None`` retries never reaches the server.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pycamunda
import pycamunda.batch
import pycamunda.externaltask as externaltask
import pycamunda.incident as incident
import pycamunda.processinst as processinst
import pycamunda.variable
import pytest

from tests.e2e.conftest import Names, RunningServer

T = TypeVar("T")

LOCK_MS = 10_000


def fetch(
    server: RunningServer,
    worker_id: str,
    topic: str,
    max_tasks: int = 1,
    *,
    variables: list[str] | None = None,
    use_priority: bool = False,
    async_response_timeout: int | None = None,
    lock_duration: int = LOCK_MS,
) -> tuple[externaltask.ExternalTask, ...]:
    request = externaltask.FetchAndLock(
        server.base_url,
        worker_id=worker_id,
        max_tasks=max_tasks,
        async_response_timeout=async_response_timeout,
        use_priority=use_priority,
    )
    request.add_topic(topic, lock_duration, variables=variables)
    return request()


def fetch_one(server: RunningServer, worker_id: str, topic: str, **kwargs: Any) -> externaltask.ExternalTask:
    tasks = fetch(server, worker_id, topic, **kwargs)
    assert len(tasks) == 1, tasks
    return tasks[0]


def get(server: RunningServer, task_id: str) -> externaltask.ExternalTask:
    return externaltask.Get(server.base_url, task_id)()


def wait_until(condition: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}; last result: {result!r}")
        time.sleep(0.05)


def failed_incidents(server: RunningServer, task_id: str) -> tuple[incident.Incident, ...]:
    return incident.GetList(server.base_url, incident_type="failedExternalTask", configuration=task_id)()


def history(server: RunningServer, task_id: str, flag: str) -> list[dict]:
    response = server.http.get(
        "/history/external-task-log",
        params={"externalTaskId": task_id, flag: "true", "sortBy": "timestamp", "sortOrder": "asc"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def process_variables(server: RunningServer, process_instance_id: str) -> dict[str, pycamunda.variable.Variable]:
    return processinst.VariablesGetList(server.base_url, process_instance_id)()


def assert_gone(server: RunningServer, task_id: str) -> None:
    with pytest.raises(pycamunda.NotFound, match=f"External task with id {task_id} does not exist"):
        get(server, task_id)


# ------------------------------------------------------------------------------------------------


class TestFetchAndLock:
    def test_locked_task_is_parsed_with_typed_variables(self, server: RunningServer, names: Names):
        """``FetchAndLock`` parses the locked task: every field present, the lock expiry a
        timezone-aware datetime in the future, variables as pycamunda ``Variable`` objects with
        capitalised type names and a ``valueInfo`` dict."""
        topic, pi, worker_id = names.topic("invoice"), names.process_instance(), names.worker()
        created = server.create_task(
            topic,
            pi,
            variables={
                "note": {"value": "rush order", "type": "String"},
                "count": {"value": 7, "type": "Integer"},
                "big": {"value": 2**40, "type": "Long"},
                "amount": {"value": 12.5, "type": "Double"},
                "approved": {"value": True, "type": "Boolean"},
                "payload": {"value": '{"lines":[1,2]}', "type": "Json"},
                "due": {"value": "2025-01-02T03:04:05.678+0000", "type": "Date"},
                "nothing": {"value": None, "type": "Null"},
            },
            businessKey="order-42",
            priority=5,
            processDefinitionKey="invoice-process",
            activityId="ChargeCard",
        )
        before = dt.datetime.now(dt.timezone.utc)

        task = fetch_one(server, worker_id, topic)

        assert task.id_ == created["id"]
        assert task.topic_name == topic
        assert task.worker_id == worker_id
        assert task.process_instance_id == pi
        assert task.business_key == "order-42"
        assert task.priority == 5
        assert task.process_definition_key == "invoice-process"
        assert task.activity_id == "ChargeCard"
        assert task.retries is None and task.error_message is None and task.error_details is None
        assert task.suspended is False and task.tenant_id is None
        assert task.lock_expiration_time.tzinfo is not None
        assert task.lock_expiration_time > before
        assert {name: (var.type_, var.value) for name, var in task.variables.items()} == {
            "note": ("String", "rush order"), "count": ("Integer", 7), "big": ("Long", 2**40),
            "amount": ("Double", 12.5), "approved": ("Boolean", True),
            "payload": ("Json", '{"lines":[1,2]}'), "due": ("Date", "2025-01-02T03:04:05.678+0000"),
            "nothing": ("Null", None),
        }  # fmt: skip
        assert all(isinstance(var.value_info, dict) for var in task.variables.values())
        assert pycamunda.base.from_isoformat(task.variables["due"].value) == dt.datetime(
            2025, 1, 2, 3, 4, 5, 678000, tzinfo=dt.timezone.utc
        )

    def test_variables_filter_and_empty_topic(self, server: RunningServer, names: Names):
        """``add_topic(variables=[...])`` returns only those variables; an empty topic answers an
        empty tuple."""
        topic = names.topic()
        server.create_task(
            topic,
            names.process_instance(),
            variables={"amount": {"value": 12.5, "type": "Double"}, "secret": {"value": "x", "type": "String"}},
        )
        task = fetch_one(server, names.worker(), topic, variables=["amount"])
        assert set(task.variables) == {"amount"}
        assert fetch(server, names.worker(), names.topic("empty")) == ()

    def test_use_priority_hands_out_the_highest_priority_first(self, server: RunningServer, names: Names):
        topic = names.topic()
        for priority in (1, 9, 5):
            server.create_task(topic, names.process_instance(f"p{priority}"), priority=priority)
        worker_id = names.worker()
        priorities = [fetch_one(server, worker_id, topic, use_priority=True).priority for _ in range(3)]
        assert priorities == [9, 5, 1]

    def test_long_poll_on_an_empty_topic_waits_then_answers_empty(self, server: RunningServer, names: Names):
        """``async_response_timeout=300``: the server holds the request about 300 ms, then ``()``."""
        started = time.monotonic()
        assert fetch(server, names.worker(), names.topic(), async_response_timeout=300) == ()
        assert time.monotonic() - started >= 0.25


class TestQueries:
    def test_get_list_and_count_filters(self, server: RunningServer, names: Names):
        """``GetList`` and ``Count`` with pycamunda's filters and sorting parse every task (and fetch
        ``/errorDetails`` for each)."""
        topic, pi, worker_id = names.topic(), names.process_instance(), names.worker()
        created = [server.create_task(topic, pi, priority=priority) for priority in (1, 9, 5)]
        locked = fetch_one(server, worker_id, topic, use_priority=True)
        url = server.base_url

        assert [t.id_ for t in externaltask.GetList(url, topic_name=topic, locked=True)()] == [locked.id_]
        assert len(externaltask.GetList(url, topic_name=topic, not_locked=True)()) == 2
        assert [t.id_ for t in externaltask.GetList(url, worker_id=worker_id)()] == [locked.id_]
        assert len(externaltask.GetList(url, process_instance_id=pi, with_retries_left=True)()) == 3
        assert externaltask.GetList(url, topic_name=topic, no_retries_left=True)() == ()
        by_priority = externaltask.GetList(url, topic_name=topic, sort_by="task_priority", ascending=False)()
        assert [t.priority for t in by_priority] == [9, 5, 1]
        assert {t.id_ for t in by_priority} == {c["id"] for c in created}
        assert externaltask.Count(url, topic_name=topic)() == 3
        assert externaltask.Count(url, topic_name=topic, locked=True)() == 1

    def test_get_loads_the_error_details_as_text(self, server: RunningServer, names: Names):
        """``Get`` reads ``/errorDetails`` (text/plain) into ``error_details``: empty before any
        failure, the reported details after one."""
        topic, worker_id = names.topic(), names.worker()
        created = server.create_task(topic, names.process_instance())
        assert get(server, created["id"]).error_details == ""
        fetch_one(server, worker_id, topic)
        externaltask.HandleFailure(
            server.base_url, created["id"], worker_id, "boom", "Traceback (most recent call last):\n  ...", 3, 60_000
        )()

        loaded = get(server, created["id"])
        assert loaded.error_message == "boom"
        assert loaded.error_details == "Traceback (most recent call last):\n  ..."
        assert loaded.retries == 3


class TestComplete:
    def test_complete_with_typed_and_untyped_variables(self, server: RunningServer, names: Names):
        """``Complete`` with ``add_variable`` (explicit types, and ``type_=None`` / ``valueInfo:
        None`` for untyped values) and ``add_local_variable``: the task is gone, the global
        variables are on the process instance with Camunda's types, the local one is not, and the
        history has a success log."""
        topic, pi, worker_id = names.topic(), names.process_instance(), names.worker()
        created = server.create_task(topic, pi)
        fetch_one(server, worker_id, topic)

        complete = externaltask.Complete(server.base_url, created["id"], worker_id)
        complete.add_variable("note", "paid", "String")
        complete.add_variable("count", 3, "Integer")
        complete.add_variable("big", 2**40, "Long")
        complete.add_variable("ratio", 0.25, "Double")
        complete.add_variable("approved", True, "Boolean")
        complete.add_variable("payload", '{"lines":[1,2]}', "Json")
        complete.add_variable("paidOn", "2025-01-02T03:04:05.678+0000", "Date")
        complete.add_variable("nothing", None, "Null")
        complete.add_variable("untypedText", "x")
        complete.add_variable("untypedInt", 5)
        complete.add_variable("untypedBig", 2**40)
        complete.add_variable("untypedFloat", 1.5)
        complete.add_variable("untypedNull", None)
        complete.add_local_variable("scratch", "local only", "String")
        assert complete.body_parameters()["variables"]["untypedText"] == {"value": "x", "type": None, "valueInfo": None}
        complete()

        assert_gone(server, created["id"])
        variables = process_variables(server, pi)
        assert {name: (var.type_, var.value) for name, var in variables.items()} == {
            "note": ("String", "paid"), "count": ("Integer", 3), "big": ("Long", 2**40), "ratio": ("Double", 0.25),
            "approved": ("Boolean", True), "payload": ("Json", variables["payload"].value),
            "paidOn": ("Date", "2025-01-02T03:04:05.678+0000"), "nothing": ("Null", None),
            "untypedText": ("String", "x"), "untypedInt": ("Integer", 5), "untypedBig": ("Long", 2**40),
            "untypedFloat": ("Double", 1.5), "untypedNull": ("Null", None),
        }  # fmt: skip
        assert json.loads(variables["payload"].value) == {"lines": [1, 2]}
        assert all(var.value_info == {} for var in variables.values()), variables
        single = processinst.VariablesGet(server.base_url, pi, "note")()
        assert (single.type_, single.value) == ("String", "paid")
        success = history(server, created["id"], "successLog")
        assert [log["workerId"] for log in success] == [worker_id]

    def test_complete_by_another_worker_raises_bad_request(self, server: RunningServer, names: Names):
        topic, owner, intruder = names.topic(), names.worker("owner"), names.worker("intruder")
        created = server.create_task(topic, names.process_instance())
        fetch_one(server, owner, topic)

        with pytest.raises(pycamunda.BadRequest) as raised:
            externaltask.Complete(server.base_url, created["id"], intruder)()

        assert str(raised.value) == (
            f"External Task {created['id']} cannot be completed by worker '{intruder}'. "
            f"It is locked by worker '{owner}'."
        )
        assert get(server, created["id"]).worker_id == owner

    def test_complete_of_an_unknown_task_raises_not_found(self, server: RunningServer, names: Names):
        with pytest.raises(pycamunda.NotFound):
            externaltask.Complete(server.base_url, f"missing-{names.suffix}", names.worker())()


class TestFailure:
    def test_failure_with_retries_left_hands_the_task_out_again(self, server: RunningServer, names: Names):
        """``HandleFailure(retries=2, retry_timeout=0)``: the task comes back at once with its
        retries, error message and details; a failure log records it; no incident."""
        topic, first, second = names.topic(), names.worker("first"), names.worker("second")
        created = server.create_task(topic, names.process_instance())
        fetch_one(server, first, topic)

        externaltask.HandleFailure(server.base_url, created["id"], first, "gateway down", "details", 2, 0)()

        again = wait_until(lambda: fetch(server, second, topic), what="the task after its retry timeout")
        assert [(t.id_, t.worker_id, t.retries, t.error_message, t.error_details) for t in again] == [
            (created["id"], second, 2, "gateway down", "details")
        ]
        assert len(history(server, created["id"], "failureLog")) == 1
        assert failed_incidents(server, created["id"]) == ()

    def test_failure_without_retries_raises_an_incident_until_retries_are_set(
        self, server: RunningServer, names: Names
    ):
        """``HandleFailure(retries=0)`` creates a ``failedExternalTask`` incident (parsed by
        ``incident.GetList``) and the task is not handed out; ``SetRetries`` (PUT, 204) resolves
        the incident, the task is fetched again and can be completed."""
        topic, pi, worker_id = names.topic(), names.process_instance(), names.worker()
        created = server.create_task(topic, pi)
        fetch_one(server, worker_id, topic)

        externaltask.HandleFailure(server.base_url, created["id"], worker_id, "no stock", "item 17", 0, 0)()

        [open_incident] = failed_incidents(server, created["id"])
        assert open_incident.incident_type is incident.IncidentType.failed_external_task
        assert open_incident.configuration == created["id"]
        assert open_incident.process_instance_id == pi
        assert open_incident.incident_message == "no stock"
        assert open_incident.incident_timestamp.tzinfo is not None
        assert get(server, created["id"]).retries == 0
        assert externaltask.GetList(server.base_url, topic_name=topic, no_retries_left=True)()[0].id_ == created["id"]
        assert fetch(server, worker_id, topic) == ()

        externaltask.SetRetries(server.base_url, created["id"], 1)()

        assert failed_incidents(server, created["id"]) == ()
        task = fetch_one(server, worker_id, topic)
        assert (task.id_, task.retries, task.error_message) == (created["id"], 1, "no stock")
        externaltask.Complete(server.base_url, created["id"], worker_id)()
        assert_gone(server, created["id"])

    def test_set_retries_for_many_tasks_sync_and_async(self, server: RunningServer, names: Names):
        """``SetRetriesSync`` (PUT /external-task/retries, 204) and ``SetRetriesAsync`` (a
        ``Batch`` that pycamunda parses field by field) set the retries of several tasks."""
        topic = names.topic()
        ids = [server.create_task(topic, names.process_instance(str(n)))["id"] for n in range(3)]

        externaltask.SetRetriesSync(server.base_url, 3, ids)()
        assert [get(server, task_id).retries for task_id in ids] == [3, 3, 3]

        batch = externaltask.SetRetriesAsync(server.base_url, 4, ids)()
        assert isinstance(batch, pycamunda.batch.Batch)
        assert batch.total_jobs == 3 and batch.id_
        wait_until(
            lambda: [get(server, task_id).retries for task_id in ids] == [4, 4, 4],
            what="the batch to set retries 4",
        )


class TestBpmnError:
    def test_bpmn_error_with_variables_ends_the_task(self, server: RunningServer, names: Names):
        topic, pi, worker_id = names.topic(), names.process_instance(), names.worker()
        created = server.create_task(topic, pi)
        fetch_one(server, worker_id, topic)

        request = externaltask.HandleBPMNError(
            server.base_url, created["id"], worker_id, "INVOICE_REJECTED", "duplicate invoice"
        )
        request.add_variable("reason", "duplicate", "String")
        request.add_variable("score", 312)
        request()

        assert_gone(server, created["id"])
        deletions = history(server, created["id"], "deletionLog")
        assert [log["workerId"] for log in deletions] == [worker_id]
        variables = process_variables(server, pi)
        assert (variables["reason"].type_, variables["reason"].value) == ("String", "duplicate")
        assert (variables["score"].type_, variables["score"].value) == ("Integer", 312)

    def test_bpmn_error_by_another_worker_raises_bad_request(self, server: RunningServer, names: Names):
        topic, owner = names.topic(), names.worker("owner")
        created = server.create_task(topic, names.process_instance())
        fetch_one(server, owner, topic)

        with pytest.raises(pycamunda.BadRequest, match="cannot be reported by worker"):
            externaltask.HandleBPMNError(server.base_url, created["id"], names.worker("intruder"), "E")()
        assert get(server, created["id"]).worker_id == owner


class TestLocks:
    def test_extend_lock_moves_the_expiry(self, server: RunningServer, names: Names):
        topic, owner, other = names.topic(), names.worker("owner"), names.worker("other")
        created = server.create_task(topic, names.process_instance())
        first_expiry = fetch_one(server, owner, topic).lock_expiration_time

        externaltask.ExtendLock(server.base_url, created["id"], 600_000, owner)()

        extended = get(server, created["id"]).lock_expiration_time
        assert (extended - first_expiry).total_seconds() > 500
        with pytest.raises(pycamunda.BadRequest, match="cannot be extended by worker"):
            externaltask.ExtendLock(server.base_url, created["id"], 600_000, other)()
        externaltask.Complete(server.base_url, created["id"], owner)()
        assert_gone(server, created["id"])

    def test_unlock_releases_the_task_to_other_workers(self, server: RunningServer, names: Names):
        """``Unlock`` (a POST with ``{}``) clears worker and expiry; another worker fetches the task;
        the former owner can no longer complete it."""
        topic, owner, other = names.topic(), names.worker("owner"), names.worker("other")
        created = server.create_task(topic, names.process_instance())
        fetch_one(server, owner, topic)

        externaltask.Unlock(server.base_url, created["id"])()

        unlocked = get(server, created["id"])
        assert unlocked.worker_id is None and unlocked.lock_expiration_time is None
        assert fetch_one(server, other, topic).worker_id == other
        with pytest.raises(pycamunda.BadRequest):
            externaltask.Complete(server.base_url, created["id"], owner)()
        externaltask.Complete(server.base_url, created["id"], other)()

    def test_set_priority(self, server: RunningServer, names: Names):
        created = server.create_task(names.topic(), names.process_instance(), priority=1)
        externaltask.SetPriority(server.base_url, created["id"], 42)()
        assert get(server, created["id"]).priority == 42
