"""The published Python client (camunda-external-task-client-python3 4.5.0), unmodified, against a
real ``extask serve`` process.

The client is driven without its endless ``subscribe`` loop: ``ExternalTaskClient`` calls
(``fetch_and_lock``, ``complete``, ``failure``, ``bpmn_failure``) and the worker's single iteration
``ExternalTaskWorker.fetch_and_execute``, which runs a handler and reports its ``TaskResult`` the way
``subscribe`` would. ``asyncResponseTimeout`` is 0 unless a test is about long polling, so nothing
blocks. The client has no extendLock / unlock / retries calls; those go over plain HTTP, as an
operator or a hand-written worker would send them.

Tasks are created through extask's own ``POST /external-task/create`` (Camunda would create them
from a BPMN model); effects are checked through the REST read endpoints: the runtime task, the
process-instance variables, the historic external-task log and incidents.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import pytest
import requests
from camunda.client.async_external_task_client import AsyncExternalTaskClient
from camunda.client.external_task_client import ExternalTaskClient
from camunda.external_task.async_external_task_worker import AsyncExternalTaskWorker
from camunda.external_task.external_task import ExternalTask
from camunda.external_task.external_task_worker import ExternalTaskWorker, NoExternalTaskFound

from tests.e2e.conftest import Names, RunningServer

T = TypeVar("T")

CAMUNDA_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4}$")

# Every field of a LockedExternalTaskDto (spec/client-compat.md): strict clients raise on a missing key.
LOCKED_TASK_FIELDS = {
    "activityId", "activityInstanceId", "errorMessage", "errorDetails", "executionId", "id",
    "lockExpirationTime", "createTime", "processDefinitionId", "processDefinitionKey",
    "processDefinitionVersionTag", "processInstanceId", "retries", "suspended", "workerId",
    "topicName", "tenantId", "variables", "priority", "businessKey", "extensionProperties",
}  # fmt: skip

# Non-blocking client settings: no long polling, short HTTP timeout, no sleeping after errors.
CLIENT_CONFIG = {
    "maxTasks": 1,
    "lockDuration": 10_000,
    "asyncResponseTimeout": 0,
    "httpTimeoutMillis": 5_000,
    "timeoutDeltaMillis": 5_000,
    "sleepSeconds": 0,
}


def make_client(server: RunningServer, worker_id: Any, **config: Any) -> ExternalTaskClient:
    return ExternalTaskClient(worker_id, server.base_url, {**CLIENT_CONFIG, **config})


def make_worker(server: RunningServer, worker_id: Any, **config: Any) -> ExternalTaskWorker:
    return ExternalTaskWorker(worker_id, server.base_url, {**CLIENT_CONFIG, **config})


def wait_until(condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.05, what: str = "condition") -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}; last result: {result!r}")
        time.sleep(interval)


def fetch_one(client: ExternalTaskClient, topic: str, **kwargs: Any) -> dict:
    tasks = client.fetch_and_lock(topic, **kwargs)
    assert isinstance(tasks, list) and len(tasks) == 1, tasks
    return tasks[0]


def parse_date(text: str) -> datetime:
    assert CAMUNDA_DATE.match(text), text
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def get_task(server: RunningServer, task_id: str) -> dict:
    response = server.http.get(f"/external-task/{task_id}")
    assert response.status_code == 200, response.text
    return response.json()


def assert_task_gone(server: RunningServer, task_id: str) -> None:
    response = server.http.get(f"/external-task/{task_id}")
    assert response.status_code == 404, response.text
    assert response.json() == {
        "type": "RestException",
        "message": f"External task with id {task_id} does not exist",
        "code": None,
    }


def history(server: RunningServer, task_id: str, **flags: bool) -> list[dict]:
    params: dict[str, Any] = {"externalTaskId": task_id, "sortBy": "timestamp", "sortOrder": "asc"}
    params.update({name: str(value).lower() for name, value in flags.items()})
    response = server.http.get("/history/external-task-log", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def incidents(server: RunningServer, task_id: str) -> list[dict]:
    response = server.http.get(
        "/incident", params={"incidentType": "failedExternalTask", "configuration": task_id}
    )
    assert response.status_code == 200, response.text
    return response.json()


def process_variables(server: RunningServer, process_instance_id: str) -> dict[str, dict]:
    response = server.http.get(f"/process-instance/{process_instance_id}/variables")
    assert response.status_code == 200, response.text
    return response.json()


def assert_no_content(response) -> None:
    assert response.status_code == 204, (response.status_code, response.text)
    assert response.content == b""


# ------------------------------------------------------------------------------------------------


class TestFetchAndLock:
    """A worker fetches locked tasks with everything the process gave them."""

    def test_locked_task_has_every_field_and_typed_variables(self, server: RunningServer, names: Names):
        """The locked task carries every LockedExternalTaskDto field (null where empty), the exact
        topic name, the fetching worker, a Camunda-format lock expiry, the extension properties
        (the client asks for them by default) and the process variables with capitalised type names
        and a ``valueInfo``; the client's ``ExternalTask`` wrapper reads them back as plain values."""
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
                "inferred": {"value": 3},
            },
            businessKey="order-42",
            priority=5,
            processDefinitionKey="invoice-process",
            activityId="ChargeCard",
            extensionProperties={"team": "billing"},
        )
        client = make_client(server, worker_id)

        task = fetch_one(client, topic)

        assert LOCKED_TASK_FIELDS <= set(task), LOCKED_TASK_FIELDS - set(task)
        assert task["id"] == created["id"]
        assert task["topicName"] == topic
        assert task["workerId"] == worker_id
        assert task["processInstanceId"] == pi
        assert task["businessKey"] == "order-42"
        assert task["priority"] == 5
        assert task["processDefinitionKey"] == "invoice-process"
        assert task["activityId"] == "ChargeCard"
        assert task["retries"] is None
        assert task["errorMessage"] is None and task["errorDetails"] is None
        assert task["tenantId"] is None
        assert task["suspended"] is False
        assert task["extensionProperties"] == {"team": "billing"}
        assert parse_date(task["lockExpirationTime"]) > parse_date(task["createTime"])
        variables = task["variables"]
        expected_types = {
            "note": "String", "count": "Integer", "big": "Long", "amount": "Double", "approved": "Boolean",
            "payload": "Json", "due": "Date", "nothing": "Null", "inferred": "Integer",
        }  # fmt: skip
        assert {name: value["type"] for name, value in variables.items()} == expected_types
        assert all(isinstance(value["valueInfo"], dict) for value in variables.values()), variables
        assert isinstance(variables["payload"]["value"], str)
        assert json.loads(variables["payload"]["value"]) == {"lines": [1, 2]}

        wrapped = ExternalTask(task)
        assert wrapped.get_task_id() == created["id"]
        assert wrapped.get_topic_name() == topic
        assert wrapped.get_worker_id() == worker_id
        assert wrapped.get_business_key() == "order-42"
        assert wrapped.get_extension_property("team") == "billing"
        assert wrapped.get_variables() == {
            "note": "rush order", "count": 7, "big": 2**40, "amount": 12.5, "approved": True,
            "payload": variables["payload"]["value"],
            "due": "2025-01-02T03:04:05.678+0000", "nothing": None, "inferred": 3,
        }  # fmt: skip

    def test_empty_topic_answers_an_empty_list_at_once(self, server: RunningServer, names: Names):
        """With ``asyncResponseTimeout: 0`` a fetch on a topic without tasks answers ``[]``."""
        client = make_client(server, names.worker())
        assert client.fetch_and_lock(names.topic("nothing-here")) == []

    def test_variables_filter_returns_only_the_named_variables(self, server: RunningServer, names: Names):
        """``fetch_and_lock(topic, variables=[...])`` returns only the listed variables."""
        topic = names.topic()
        server.create_task(
            topic,
            names.process_instance(),
            variables={"amount": {"value": 12.5, "type": "Double"}, "secret": {"value": "x", "type": "String"}},
        )
        task = fetch_one(make_client(server, names.worker()), topic, variables=["amount"])
        assert set(task["variables"]) == {"amount"}
        assert task["variables"]["amount"]["value"] == 12.5

    def test_process_variables_filter_selects_matching_instances(self, server: RunningServer, names: Names):
        """``fetch_and_lock(topic, process_variables={...})`` only hands out tasks of process
        instances whose variable equals the given raw value."""
        topic = names.topic()
        server.create_task(topic, names.process_instance("eu"), variables={"region": {"value": "EU"}})
        us_task = server.create_task(topic, names.process_instance("us"), variables={"region": {"value": "US"}})
        client = make_client(server, names.worker(), maxTasks=10)

        tasks = client.fetch_and_lock(topic, process_variables={"region": "US"})

        assert [task["id"] for task in tasks] == [us_task["id"]]

    def test_several_topics_in_one_request(self, server: RunningServer, names: Names):
        """A list of topics fetches tasks of all of them, each labelled with its exact topic name
        (the client routes handlers by it), up to ``maxTasks``."""
        invoice, shipping = names.topic("Invoice.Check"), names.topic("shipping/label")
        first = server.create_task(invoice, names.process_instance("a"))
        second = server.create_task(shipping, names.process_instance("b"))
        client = make_client(server, names.worker(), maxTasks=5)

        tasks = client.fetch_and_lock([invoice, shipping])

        assert {task["id"]: task["topicName"] for task in tasks} == {first["id"]: invoice, second["id"]: shipping}


class TestComplete:
    """A worker completes its task with variables; the process and the history see them."""

    def test_complete_with_variables_of_several_types(self, server: RunningServer, names: Names):
        """``client.complete`` answers True (204); the task is gone; the global variables land on the
        process instance typed from their JSON values (string, integer, long, double, boolean, null,
        a raw object as Json) or as explicitly typed (``{"value": ..., "type": "Json"}``); local
        variables do not outlive the task; the history has a success log by this worker."""
        topic, pi, worker_id = names.topic("invoice"), names.process_instance(), names.worker()
        created = server.create_task(topic, pi, variables={"amount": {"value": 12.5, "type": "Double"}})
        client = make_client(server, worker_id)
        task = fetch_one(client, topic)

        done = client.complete(
            task["id"],
            {
                "note": "paid",
                "count": 3,
                "big": 2**40,
                "ratio": 0.25,
                "approved": True,
                "nothing": None,
                "payload": {"lines": [1, 2], "ok": True},
                "typedJson": {"value": '{"a":1}', "type": "Json"},
                "paidOn": {"value": "2025-01-02T03:04:05.678+0000", "type": "Date"},
            },
            local_variables={"scratch": "local only"},
        )

        assert done is True
        assert_task_gone(server, created["id"])
        variables = process_variables(server, pi)
        assert {name: value["type"] for name, value in variables.items()} == {
            "amount": "Double", "note": "String", "count": "Integer", "big": "Long", "ratio": "Double",
            "approved": "Boolean", "nothing": "Null", "payload": "Json", "typedJson": "Json", "paidOn": "Date",
        }  # fmt: skip
        assert {name: value["value"] for name, value in variables.items() if value["type"] != "Json"} == {
            "amount": 12.5, "note": "paid", "count": 3, "big": 2**40, "ratio": 0.25, "approved": True,
            "nothing": None, "paidOn": "2025-01-02T03:04:05.678+0000",
        }  # fmt: skip
        assert json.loads(variables["payload"]["value"]) == {"lines": [1, 2], "ok": True}
        assert json.loads(variables["typedJson"]["value"]) == {"a": 1}
        assert all(isinstance(value["valueInfo"], dict) for value in variables.values()), variables

        success = history(server, created["id"], successLog=True)
        assert len(success) == 1, success
        assert success[0]["workerId"] == worker_id
        assert success[0]["topicName"] == topic
        assert success[0]["processInstanceId"] == pi
        assert success[0]["successLog"] is True and success[0]["creationLog"] is False
        assert [log["creationLog"] for log in history(server, created["id"])] == [True, False]

    def test_complete_by_another_worker_is_refused_with_the_engine_message(
        self, server: RunningServer, names: Names
    ):
        """Completing a task locked by someone else raises in the client with Camunda's 400
        ``RestException`` type and message, which the client puts into its exception text."""
        topic, owner, intruder = names.topic(), names.worker("owner"), names.worker("intruder")
        created = server.create_task(topic, names.process_instance())
        fetch_one(make_client(server, owner), topic)

        with pytest.raises(Exception) as raised:
            make_client(server, intruder).complete(created["id"], {"x": 1})

        assert str(raised.value) == (
            f"received 400 : RestException : External Task {created['id']} cannot be completed by "
            f"worker '{intruder}'. It is locked by worker '{owner}'."
        )
        assert get_task(server, created["id"])["workerId"] == owner

    def test_numeric_worker_id_as_the_client_sends_it(self, server: RunningServer, names: Names):
        """A worker created with an int id (the client's own tests do this) sends it as a string on
        fetchAndLock (``str(worker_id)``) but as a JSON number on complete; Camunda's Jackson reads
        the number into the String ``workerId``, so the completion succeeds."""
        topic = names.topic()
        created = server.create_task(topic, names.process_instance())
        client = make_client(server, 4711)
        task = fetch_one(client, topic)
        assert task["workerId"] == "4711"

        assert client.complete(task["id"], {"ok": True}) is True
        assert_task_gone(server, created["id"])

    @pytest.mark.parametrize(
        "auth",
        [
            pytest.param({"auth_basic": {"username": "demo", "password": "demo"}}, id="basic"),
            pytest.param({"auth_bearer": {"access_token": "eyJhbGciOiJIUzI1NiJ9.e30.x"}}, id="bearer"),
        ],
    )
    def test_authorization_header_is_tolerated(self, server: RunningServer, names: Names, auth: dict):
        """With authentication off, a client configured for Basic or Bearer auth works unchanged."""
        topic = names.topic()
        server.create_task(topic, names.process_instance())
        client = make_client(server, names.worker(), **auth)
        assert client._get_headers().get("Authorization")
        task = fetch_one(client, topic)
        assert client.complete(task["id"], {}) is True


class TestFailureWithRetries:
    """A worker reports a failure with retries left; the task comes back after the retry timeout."""

    def test_task_is_handed_out_again_after_the_retry_timeout(self, server: RunningServer, names: Names):
        """``client.failure(retries=2, retry_timeout=300)`` answers True; after 300 ms the task is
        fetchable again, now with ``retries: 2`` and the error message and details. A second failure
        through the client's ``ExternalTask.failure`` counts the retries down from the task's own
        value (2 → 1). The history has one failure log per report, each with the retries the task
        had before it (null, then 2)."""
        topic, first_worker, second_worker = names.topic(), names.worker("first"), names.worker("second")
        created = server.create_task(topic, names.process_instance())
        first = make_client(server, first_worker)
        task = fetch_one(first, topic)

        assert first.failure(task["id"], "payment gateway down", "Traceback ...", 2, 300) is True

        after_failure = get_task(server, created["id"])
        assert after_failure["retries"] == 2
        assert after_failure["errorMessage"] == "payment gateway down"
        assert after_failure["workerId"] == first_worker  # kept after a failure
        second = make_client(server, second_worker)
        again = wait_until(lambda: second.fetch_and_lock(topic), what="the task after its retry timeout")
        assert len(again) == 1
        retried = again[0]
        assert retried["id"] == created["id"]
        assert retried["workerId"] == second_worker
        assert retried["retries"] == 2
        assert retried["errorMessage"] == "payment gateway down"
        assert retried["errorDetails"] == "Traceback ..."

        result = ExternalTask(retried).failure("still down", "Traceback 2", max_retries=5, retry_timeout=60_000)
        assert result.retries == 1
        assert second.failure(retried["id"], result.error_message, result.error_details, result.retries, result.retry_timeout) is True

        assert second.fetch_and_lock(topic) == []  # locked for the 60 s retry timeout
        assert get_task(server, created["id"])["retries"] == 1
        failures = history(server, created["id"], failureLog=True)
        assert [(log["errorMessage"], log["retries"], log["workerId"]) for log in failures] == [
            ("payment gateway down", None, first_worker),
            ("still down", 2, second_worker),
        ]
        assert incidents(server, created["id"]) == []


class TestFailureWithoutRetries:
    """A failure with no retries left raises an incident; setting retries resolves it."""

    def test_incident_is_raised_and_resolved_by_setting_retries(self, server: RunningServer, names: Names):
        """``client.failure(retries=0)`` answers True and leaves an incident of type
        ``failedExternalTask`` whose configuration is the task id; the task is not fetchable.
        ``PUT /external-task/{id}/retries {"retries": 1}`` answers 204, the incident is gone and the
        task is fetchable again (with ``retries: 1``) and can be completed."""
        topic, pi = names.topic(), names.process_instance()
        created = server.create_task(topic, pi)
        client = make_client(server, names.worker())
        task = fetch_one(client, topic)

        assert client.failure(task["id"], "card declined", "details", 0, 0) is True

        raised = incidents(server, created["id"])
        assert len(raised) == 1, raised
        assert raised[0]["incidentType"] == "failedExternalTask"
        assert raised[0]["configuration"] == created["id"]
        assert raised[0]["processInstanceId"] == pi
        assert raised[0]["incidentMessage"] == "card declined"
        assert server.http.get(
            "/incident/count", params={"incidentType": "failedExternalTask", "configuration": created["id"]}
        ).json() == {"count": 1}
        assert get_task(server, created["id"])["retries"] == 0
        assert client.fetch_and_lock(topic) == []

        assert_no_content(server.http.put(f"/external-task/{created['id']}/retries", json={"retries": 1}))

        assert incidents(server, created["id"]) == []
        again = fetch_one(client, topic)
        assert again["id"] == created["id"] and again["retries"] == 1
        assert client.complete(again["id"], {}) is True

    def test_null_retries_mean_zero(self, server: RunningServer, names: Names):
        """``retries: None`` (what the client sends when a handler passes ``max_retries=None``) is
        read as 0, as Camunda's primitive int does: the task runs out of retries with an incident."""
        topic = names.topic()
        created = server.create_task(topic, names.process_instance())
        client = make_client(server, names.worker())
        task = fetch_one(client, topic)
        result = ExternalTask(task).failure("broken", None, max_retries=None, retry_timeout=0)
        assert result.retries is None

        assert client.failure(task["id"], result.error_message, result.error_details, result.retries, result.retry_timeout) is True

        assert get_task(server, created["id"])["retries"] == 0
        assert len(incidents(server, created["id"])) == 1


class TestBpmnError:
    """A worker throws a BPMN error: the task ends without success and the history says so."""

    def test_bpmn_error_deletes_the_task_and_logs_the_deletion(self, server: RunningServer, names: Names):
        """``client.bpmn_failure`` answers True; the task is gone (404 with Camunda's error body);
        the history has a deletion log by this worker and no success log; the error's variables
        are set on the process instance."""
        topic, pi, worker_id = names.topic(), names.process_instance(), names.worker()
        created = server.create_task(topic, pi)
        client = make_client(server, worker_id)
        task = fetch_one(client, topic)

        assert client.bpmn_failure(task["id"], "INVOICE_REJECTED", "duplicate invoice", {"reason": "duplicate"}) is True

        assert_task_gone(server, created["id"])
        deletions = history(server, created["id"], deletionLog=True)
        assert len(deletions) == 1, deletions
        assert deletions[0]["workerId"] == worker_id
        assert deletions[0]["deletionLog"] is True
        assert history(server, created["id"], successLog=True) == []
        assert process_variables(server, pi)["reason"]["value"] == "duplicate"
        assert client.fetch_and_lock(topic) == []

    def test_bpmn_error_by_another_worker_is_refused(self, server: RunningServer, names: Names):
        """The client raises ``requests.HTTPError`` (it calls ``raise_for_status``) on the 400 a
        foreign worker gets; the task stays."""
        topic = names.topic()
        created = server.create_task(topic, names.process_instance())
        fetch_one(make_client(server, names.worker("owner")), topic)

        with pytest.raises(requests.HTTPError) as raised:
            make_client(server, names.worker("intruder")).bpmn_failure(created["id"], "E", "m")

        assert raised.value.response.status_code == 400
        assert raised.value.response.json()["type"] == "RestException"
        assert get_task(server, created["id"])["id"] == created["id"]


class TestLockManagement:
    """Extending and releasing a lock. Client 4.5.0 has neither call (checked below), so these go
    over plain HTTP next to the client's own fetch and complete."""

    def test_the_client_has_no_lock_calls(self):
        """The published client offers no extend_lock / unlock / lock."""
        for name in ("extend_lock", "unlock", "lock", "set_retries"):
            assert not hasattr(ExternalTaskClient, name), name
            assert not hasattr(AsyncExternalTaskClient, name), name

    def test_extend_lock_moves_the_expiry(self, server: RunningServer, names: Names):
        """``extendLock`` by the owner answers 204 with an empty body and moves the expiry to
        now + newDuration; another worker gets Camunda's 400 (with its doubled quote); the owner
        can still complete."""
        topic, owner, other = names.topic(), names.worker("owner"), names.worker("other")
        created = server.create_task(topic, names.process_instance())
        client = make_client(server, owner, lockDuration=10_000)
        task = fetch_one(client, topic)
        first_expiry = parse_date(task["lockExpirationTime"])

        assert_no_content(
            server.http.post(f"/external-task/{created['id']}/extendLock", json={"workerId": owner, "newDuration": 600_000})
        )

        extended = parse_date(get_task(server, created["id"])["lockExpirationTime"])
        assert (extended - first_expiry).total_seconds() > 500
        refused = server.http.post(
            f"/external-task/{created['id']}/extendLock", json={"workerId": other, "newDuration": 600_000}
        )
        assert refused.status_code == 400
        assert refused.json() == {
            "type": "RestException",
            "message": f"The lock of the External Task {created['id']} cannot be extended by worker "
            f"'{other}''. It is locked by worker '{owner}'.",
            "code": 0,
        }
        assert client.complete(created["id"], {}) is True

    def test_unlock_makes_the_task_fetchable_for_others(self, server: RunningServer, names: Names):
        """``unlock`` (no body, no content type) answers 204, clears worker and expiry; another
        worker fetches the task at once; the former owner's completion is then refused."""
        topic, owner, other = names.topic(), names.worker("owner"), names.worker("other")
        created = server.create_task(topic, names.process_instance())
        owner_client = make_client(server, owner)
        fetch_one(owner_client, topic)

        assert_no_content(requests.post(f"{server.base_url}/external-task/{created['id']}/unlock", timeout=5))

        unlocked = get_task(server, created["id"])
        assert unlocked["lockExpirationTime"] is None and unlocked["workerId"] is None
        task = fetch_one(make_client(server, other), topic)
        assert task["id"] == created["id"] and task["workerId"] == other
        with pytest.raises(Exception, match="received 400 : RestException : External Task"):
            owner_client.complete(created["id"], {})


class TestExternalTaskWorker:
    """The worker's own handler path: ``fetch_and_execute`` runs the handler and reports its
    ``TaskResult`` (complete / failure / bpmn_error), exactly as one turn of ``subscribe`` does."""

    def test_handler_completes(self, server: RunningServer, names: Names):
        """A handler returning ``task.complete(...)`` completes the task with its variables."""
        topic, pi, worker_id = names.topic(), names.process_instance(), names.worker()
        created = server.create_task(topic, pi, variables={"amount": {"value": 12.5, "type": "Double"}})
        seen: list[Any] = []

        def handler(task: ExternalTask):
            seen.append(task.get_variable("amount"))
            return task.complete({"total": task.get_variable("amount") * 2, "status": "paid"})

        make_worker(server, worker_id).fetch_and_execute(topic, handler)

        assert seen == [12.5]
        assert_task_gone(server, created["id"])
        variables = process_variables(server, pi)
        assert variables["total"]["type"] == "Double" and variables["total"]["value"] == 25.0
        assert variables["status"] == {"type": "String", "value": "paid", "valueInfo": {}}
        assert [log["workerId"] for log in history(server, created["id"], successLog=True)] == [worker_id]

    def test_handler_fails(self, server: RunningServer, names: Names):
        """A handler returning ``task.failure(...)`` reports it with ``max_retries`` on the first
        failure and the given retry timeout; the details are readable as text/plain."""
        topic = names.topic()
        created = server.create_task(topic, names.process_instance())

        def handler(task: ExternalTask):
            return task.failure("no stock", "item 17 missing", max_retries=3, retry_timeout=60_000)

        make_worker(server, names.worker()).fetch_and_execute(topic, handler)

        failed = get_task(server, created["id"])
        assert failed["retries"] == 3 and failed["errorMessage"] == "no stock"
        details = server.http.get(f"/external-task/{created['id']}/errorDetails")
        assert details.status_code == 200
        assert details.headers["content-type"].startswith("text/plain")
        assert details.text == "item 17 missing"
        assert len(history(server, created["id"], failureLog=True)) == 1

    def test_handler_retries_count_down_to_an_incident(self, server: RunningServer, names: Names):
        """A handler that always fails with ``max_retries=2, retry_timeout=0`` gets the task back
        at once; the client counts down from the task's retries (2, 1, 0) and at 0 the task stops
        being handed out and has an incident."""
        topic = names.topic()
        created = server.create_task(topic, names.process_instance())
        worker = make_worker(server, names.worker())
        seen_retries: list[Any] = []

        def handler(task: ExternalTask):
            seen_retries.append(task._context["retries"])
            return task.failure("always fails", None, max_retries=2, retry_timeout=0)

        for _ in range(3):
            worker.fetch_and_execute(topic, handler)
        with pytest.raises(NoExternalTaskFound):
            worker.fetch_and_execute(topic, handler)

        assert seen_retries == [None, 2, 1]
        assert get_task(server, created["id"])["retries"] == 0
        assert len(incidents(server, created["id"])) == 1

    def test_handler_throws_bpmn_error(self, server: RunningServer, names: Names):
        """A handler returning ``task.bpmn_error(...)`` ends the task with a deletion log."""
        topic, pi = names.topic(), names.process_instance()
        created = server.create_task(topic, pi)

        def handler(task: ExternalTask):
            return task.bpmn_error("CREDIT_CHECK_FAILED", "score too low", {"score": 312})

        make_worker(server, names.worker()).fetch_and_execute(topic, handler)

        assert_task_gone(server, created["id"])
        assert len(history(server, created["id"], deletionLog=True)) == 1
        assert process_variables(server, pi)["score"]["value"] == 312

    def test_no_task_raises_no_external_task_found(self, server: RunningServer, names: Names):
        """On an empty topic ``fetch_and_execute`` raises ``NoExternalTaskFound`` (which
        ``subscribe`` swallows before polling again) and never calls the handler."""
        with pytest.raises(NoExternalTaskFound):
            make_worker(server, names.worker()).fetch_and_execute(names.topic(), pytest.fail)


class TestAsyncExternalTaskWorker:
    """The client's asyncio worker (httpx based) with its real subscribe loop and long polling."""

    def test_subscription_processes_tasks_until_stopped(self, server: RunningServer, names: Names):
        """``subscribe`` long-polls (1 s), runs the async handler for each task and completes it;
        ``stop`` ends the loop."""
        topic, pi = names.topic(), names.process_instance()
        created = [server.create_task(topic, pi) for _ in range(3)]
        worker = AsyncExternalTaskWorker(
            names.worker(),
            server.base_url,
            {**CLIENT_CONFIG, "asyncResponseTimeout": 1_000, "sleepSeconds": 0.05},
        )

        async def handler(task: ExternalTask):
            return task.complete({f"done_{task.get_task_id()}": True})

        async def run() -> None:
            subscription = asyncio.create_task(worker.subscribe({topic: handler}))
            try:
                deadline = time.monotonic() + 15
                while True:
                    statuses = [
                        (await asyncio.to_thread(server.http.get, f"/external-task/{task['id']}")).status_code
                        for task in created
                    ]
                    if statuses == [404] * len(created):
                        break
                    assert not subscription.done(), subscription
                    assert time.monotonic() < deadline, "the async worker did not finish the tasks"
                    await asyncio.sleep(0.05)
            finally:
                await worker.stop()
                await asyncio.gather(subscription, return_exceptions=True)

        asyncio.run(run())

        variables = process_variables(server, pi)
        assert {f"done_{task['id']}" for task in created} <= set(variables)

    def test_handler_exception_becomes_a_failure_with_configured_retries(self, server: RunningServer, names: Names):
        """When an async handler raises, the worker reports a failure with its configured
        ``retries`` and ``retryTimeout``."""
        topic = names.topic()
        created = server.create_task(topic, names.process_instance())
        worker = AsyncExternalTaskWorker(
            names.worker(), server.base_url, {**CLIENT_CONFIG, "retries": 4, "retryTimeout": 60_000}
        )

        async def handler(task: ExternalTask):
            raise RuntimeError("boom")

        async def run() -> None:
            assert await worker.fetch_and_execute(topic, handler) is True
            await asyncio.gather(*list(worker.running_tasks))

        asyncio.run(run())

        failed = get_task(server, created["id"])
        assert failed["retries"] == 4
        assert failed["errorMessage"] == "Task execution failed"
        assert server.http.get(f"/external-task/{created['id']}/errorDetails").text == (
            "An unexpected error occurred while executing the task"
        )


class TestLongPolling:
    """The client long-polls (``asyncResponseTimeout``): the server holds the request until a task
    can be locked, instead of answering ``[]`` at once."""

    def test_long_poll_answers_when_the_retry_timeout_expires(self, server: RunningServer, names: Names):
        """A long-polling fetch (``asyncResponseTimeout`` 10 s) that starts while the task waits out
        its retry timeout answers with the task once the timeout has passed, not with ``[]``."""
        topic = names.topic()
        created = server.create_task(topic, names.process_instance())
        client = make_client(server, names.worker())
        task = fetch_one(client, topic)
        assert client.failure(task["id"], "flaky", None, 1, 500) is True

        long_polling = make_client(server, names.worker("poller"), asyncResponseTimeout=10_000)
        tasks = long_polling.fetch_and_lock(topic)

        assert [t["id"] for t in tasks] == [created["id"]]

    def test_long_poll_answers_when_a_task_is_created(self, server: RunningServer, names: Names):
        """A long-polling fetch on an empty topic is held (it has not answered half a second
        later) and answers with the task as soon as one is created for its topic."""
        topic = names.topic()
        long_polling = make_client(server, names.worker(), asyncResponseTimeout=10_000)
        outcome: dict[str, Any] = {}

        def poll() -> None:
            try:
                outcome["tasks"] = long_polling.fetch_and_lock(topic)
            except Exception as error:  # reported below
                outcome["error"] = error

        poller = threading.Thread(target=poll)
        poller.start()
        try:
            poller.join(timeout=0.5)  # a server that does not hold the request answers [] by now
            assert poller.is_alive(), f"the long poll answered at once, before any task existed: {outcome}"
            created = server.create_task(topic, names.process_instance())
        finally:
            poller.join(timeout=15)
        assert not poller.is_alive(), "the long poll did not answer"
        assert "error" not in outcome, outcome
        assert [t["id"] for t in outcome["tasks"]] == [created["id"]]
