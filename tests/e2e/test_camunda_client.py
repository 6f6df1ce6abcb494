"""camunda-client 0.15.0 (async, pydantic based), unmodified, against a real ``extask serve`` process.

The client validates every answer with pydantic: a locked task must fit ``ExternalTaskSchema``
(``id``, ``workerId`` and ``topicName`` required strings, the lock expiry a datetime), and each
variable must fit ``VariableValueSchema``, whose ``type`` is a ``Literal`` of *capitalised* Camunda
type names (a lower-case ``"string"`` in a response is a validation error). Incidents must fit
``IncidentSchema``, whose ``id`` and ``processInstanceId`` are UUIDs: Camunda's ids are UUIDs, so
this module uses UUIDs as process instance ids.

Both clients of the library are used directly, each call in its own ``asyncio.run``:
``ExternalTaskClient`` (fetch_and_lock, complete, failure, bpmn_error, extend_lock, unlock) and
``ExternalTaskWorker`` with its topic subscription and task contexts; ``CamundaEngineClient`` reads
tasks, error details and incidents. Setting retries is not in the library, so it goes over HTTP as
an operator would send it.

What the client puts on the wire, and what the server has to accept: every request carries
``Content-Type: application/json`` and a Basic ``Authorization`` header (authentication is off);
``failure`` sends ``"retries": null`` unless given, which Camunda reads as 0 (incident);
``bpmn_error`` sends ``"errorMessage": null`` unless given; the worker's fetch sends
``"businessKey": null``, ``"variables": null`` and ``"localVariables": null`` per topic; ``unlock``
is a POST with an empty body but a JSON content type.

Client limitations (not server behaviour): ``CamundaEngineClient.get_external_task`` parses with the
same schema as a locked task, so it raises for a task that is not locked by anyone (``workerId``
null); the tests only read locked or failed tasks through it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, TypeVar

import httpx
import pytest
from camunda_client import (
    CamundaEngineClient,
    ExternalTaskClient,
    ExternalTaskConfig,
    ExternalTaskWorker,
    VariableValueSchema,
)
from camunda_client.clients.dto import AuthData
from camunda_client.clients.external_task.schemas.response import ExternalTaskSchema
from camunda_client.exceptions import CamundaClientError
from camunda_client.utils import deserialize

from tests.e2e.conftest import Names, RunningServer

T = TypeVar("T")

AUTH = AuthData(username="demo", password="demo")

# No long polling, short locks, retry timeout 0 (the client sends the configured retryTimeout).
CONFIG = ExternalTaskConfig(
    max_tasks=1,
    lock_duration=timedelta(seconds=10),
    async_response_timeout=timedelta(0),
    retry_timeout=timedelta(0),
)


def new_pi() -> str:
    return str(uuid.uuid4())


def run(coroutine: Awaitable[T]) -> T:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


@asynccontextmanager
async def task_client(server: RunningServer, worker_id: str, **config: Any) -> AsyncIterator[ExternalTaskClient]:
    """An ``ExternalTaskClient``; its httpx client is closed afterwards (the library has no close)."""
    client = ExternalTaskClient(
        worker_id=worker_id,
        base_url=server.base_url,
        auth_data=AUTH,
        transport=httpx.AsyncHTTPTransport(),
        config=dataclasses.replace(CONFIG, **config),
    )
    try:
        yield client
    finally:
        await client._http_client.aclose()


@asynccontextmanager
async def engine_client(server: RunningServer) -> AsyncIterator[CamundaEngineClient]:
    client = CamundaEngineClient(base_url=server.base_url, auth_data=AUTH, transport=httpx.AsyncHTTPTransport())
    try:
        yield client
    finally:
        await client._http_client.aclose()


async def fetch_one(client: ExternalTaskClient, topic: str, **kwargs: Any) -> ExternalTaskSchema:
    tasks = await client.fetch_and_lock([topic], **kwargs)
    assert len(tasks) == 1, tasks
    return tasks[0]


def fetch_one_sync(server: RunningServer, worker_id: str, topic: str) -> ExternalTaskSchema:
    async def go() -> ExternalTaskSchema:
        async with task_client(server, worker_id) as client:
            return await fetch_one(client, topic)

    return run(go())


def wait_until(condition: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}; last result: {result!r}")
        time.sleep(0.05)


def task_status(server: RunningServer, task_id: str) -> int:
    return server.http.get(f"/external-task/{task_id}").status_code


def get_task(server: RunningServer, task_id: str) -> dict:
    response = server.http.get(f"/external-task/{task_id}")
    assert response.status_code == 200, response.text
    return response.json()


def process_variables(server: RunningServer, process_instance_id: str) -> dict[str, dict]:
    response = server.http.get(f"/process-instance/{process_instance_id}/variables")
    assert response.status_code == 200, response.text
    return response.json()


def history(server: RunningServer, task_id: str, flag: str) -> list[dict]:
    response = server.http.get(
        "/history/external-task-log",
        params={"externalTaskId": task_id, flag: "true", "sortBy": "timestamp", "sortOrder": "asc"},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def incidents_of(engine: CamundaEngineClient, task_id: str) -> list:
    return [i for i in await engine.get_incidents("failedExternalTask") if i.configuration == task_id]


def error_body(error: CamundaClientError) -> dict:
    return json.loads(error.response_data)


# ------------------------------------------------------------------------------------------------


class TestFetchAndLock:
    def test_locked_task_validates_against_the_client_schema(self, server: RunningServer, names: Names):
        """The locked task validates as ``ExternalTaskSchema``: the exact topic and worker, a
        timezone-aware lock expiry in the future, variables with capitalised types (the schema's
        ``Literal``) and ``parsed_variables`` decoding Json."""
        topic, pi, worker_id = names.topic("invoice"), new_pi(), names.worker()
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
        )
        before = dt.datetime.now(dt.timezone.utc)

        async def go() -> ExternalTaskSchema:
            async with task_client(server, worker_id) as client:
                return await fetch_one(client, topic)

        task = run(go())

        assert task.id == created["id"]
        assert task.topic_name == topic
        assert task.worker_id == worker_id
        assert task.process_instance_id == pi
        assert task.business_key == "order-42"
        assert task.priority == 5
        assert task.retries is None and task.error_message is None
        assert task.suspended is False
        assert task.lock_expiration_time is not None and task.lock_expiration_time.tzinfo is not None
        assert task.lock_expiration_time > before
        assert {name: var.type for name, var in task.variables.items()} == {
            "note": "String", "count": "Integer", "big": "Long", "amount": "Double", "approved": "Boolean",
            "payload": "Json", "due": "Date", "nothing": "Null", "inferred": "Integer",
        }  # fmt: skip
        assert all(var.value_info == {} for var in task.variables.values())
        assert task.parsed_variables == {
            "note": "rush order", "count": 7, "big": 2**40, "amount": 12.5, "approved": True,
            "payload": {"lines": [1, 2]}, "due": "2025-01-02T03:04:05.678+0000", "nothing": None, "inferred": 3,
        }  # fmt: skip

    def test_business_key_and_process_variables_filters(self, server: RunningServer, names: Names):
        """``fetch_and_lock(business_key=...)`` and ``process_variables={name: raw value}`` select
        the matching tasks only (the client sends the other topic options as nulls)."""
        topic = names.topic()
        server.create_task(topic, new_pi(), businessKey="order-1", variables={"region": {"value": "EU"}})
        us = server.create_task(topic, new_pi(), businessKey="order-2", variables={"region": {"value": "US"}})
        keyed = server.create_task(topic, new_pi(), businessKey="order-3", variables={"region": {"value": "EU"}})

        async def go() -> tuple[list[str], list[str], list]:
            async with task_client(server, names.worker(), max_tasks=10) as client:
                by_key = await client.fetch_and_lock([topic], business_key="order-3")
                by_variable = await client.fetch_and_lock([topic], process_variables={"region": "US"})
                nothing = await client.fetch_and_lock([topic], business_key="order-none")
                return [t.id for t in by_key], [t.id for t in by_variable], list(nothing)

        by_key, by_variable, nothing = run(go())
        assert by_key == [keyed["id"]]
        assert by_variable == [us["id"]]
        assert nothing == []

    def test_long_poll_waits_then_answers_empty(self, server: RunningServer, names: Names):
        """``lock_timeout`` (sent as ``asyncResponseTimeout``) of 300 ms on an empty topic: the
        server holds the request, then answers ``[]``."""

        async def go() -> tuple[list, float]:
            async with task_client(server, names.worker()) as client:
                started = time.monotonic()
                tasks = await client.fetch_and_lock([names.topic()], lock_timeout=timedelta(milliseconds=300))
                return list(tasks), time.monotonic() - started

        tasks, elapsed = run(go())
        assert tasks == [] and elapsed >= 0.25


class TestComplete:
    def test_complete_with_variables_of_every_type(self, server: RunningServer, names: Names):
        """``complete`` with the library's own ``deserialize`` for str, int, float, bool, None,
        dict (Json), tz-aware datetime (Date), an explicit Long, and a local variable: the task is
        gone, the process instance has the typed global variables only, a success log exists."""
        topic, pi, worker_id = names.topic(), new_pi(), names.worker()
        created = server.create_task(topic, pi)

        async def go() -> None:
            async with task_client(server, worker_id) as client:
                task = await fetch_one(client, topic)
                await client.complete(
                    task.id,
                    global_variables={
                        "note": deserialize("paid"),
                        "count": deserialize(3),
                        "ratio": deserialize(0.25),
                        "approved": deserialize(True),
                        "nothing": deserialize(None),
                        "payload": deserialize({"lines": [1, 2], "ok": True}),
                        "paidOn": deserialize(dt.datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=dt.timezone.utc)),
                        "big": deserialize(2**40, "Long"),
                        "plain": VariableValueSchema(value="no type"),
                    },
                    local_variables={"scratch": deserialize("local only")},
                )

        run(go())

        assert task_status(server, created["id"]) == 404
        variables = process_variables(server, pi)
        assert {name: (v["type"], v["value"]) for name, v in variables.items() if name != "payload"} == {
            "note": ("String", "paid"), "count": ("Integer", 3), "ratio": ("Double", 0.25),
            "approved": ("Boolean", True), "nothing": ("Null", None),
            "paidOn": ("Date", "2025-01-02T03:04:05.678+0000"), "big": ("Long", 2**40), "plain": ("String", "no type"),
        }  # fmt: skip
        assert variables["payload"]["type"] == "Json"
        assert json.loads(variables["payload"]["value"]) == {"lines": [1, 2], "ok": True}
        assert [log["workerId"] for log in history(server, created["id"], "successLog")] == [worker_id]

    def test_complete_by_another_worker_is_refused(self, server: RunningServer, names: Names):
        topic, owner, intruder = names.topic(), names.worker("owner"), names.worker("intruder")
        created = server.create_task(topic, new_pi())
        fetch_one_sync(server, owner, topic)

        async def go() -> CamundaClientError:
            async with task_client(server, intruder) as client:
                with pytest.raises(CamundaClientError) as raised:
                    await client.complete(created["id"])
                return raised.value

        error = run(go())
        assert error.status_code == 400
        assert error_body(error)["type"] == "RestException"
        assert error_body(error)["message"] == (
            f"External Task {created['id']} cannot be completed by worker '{intruder}'. "
            f"It is locked by worker '{owner}'."
        )
        assert get_task(server, created["id"])["workerId"] == owner


class TestFailure:
    def test_failure_with_retries_left_hands_the_task_out_again(self, server: RunningServer, names: Names):
        """``failure(retries=2)`` with the configured retry timeout 0: fetched again at once with
        retries and error message; the engine client reads the details as text; no incident."""
        topic, worker_id = names.topic(), names.worker()
        created = server.create_task(topic, new_pi())

        async def go() -> tuple[ExternalTaskSchema, str | None, list]:
            async with task_client(server, worker_id) as client, engine_client(server) as engine:
                task = await fetch_one(client, topic)
                await client.failure(task.id, error_message="gateway down", retries=2, error_details="Traceback ...")
                again = await fetch_one(client, topic)
                return again, await engine.get_external_task_error_details(task.id), await incidents_of(engine, task.id)

        again, details, open_incidents = run(go())
        assert (again.id, again.retries, again.error_message) == (created["id"], 2, "gateway down")
        assert details == "Traceback ..."
        assert open_incidents == []
        assert len(history(server, created["id"], "failureLog")) == 1

    def test_failure_without_retries_raises_an_incident_until_retries_are_set(
        self, server: RunningServer, names: Names
    ):
        """``failure`` without retries sends ``"retries": null``, read as 0: the task has no
        retries left, an incident (validated as ``IncidentSchema``) appears and nothing is handed
        out. ``PUT /external-task/{id}/retries`` resolves it; the client fetches and completes."""
        topic, pi, worker_id = names.topic(), new_pi(), names.worker()
        created = server.create_task(topic, pi)

        async def fail() -> tuple[list, ExternalTaskSchema | None, list]:
            async with task_client(server, worker_id) as client, engine_client(server) as engine:
                task = await fetch_one(client, topic)
                await client.failure(task.id, error_message="no stock", error_details="item 17")
                return (
                    await incidents_of(engine, task.id),
                    await engine.get_external_task(task.id),
                    list(await client.fetch_and_lock([topic])),
                )

        open_incidents, failed, fetched = run(fail())
        assert len(open_incidents) == 1
        [incident] = open_incidents
        assert isinstance(incident.id, uuid.UUID)
        assert str(incident.process_instance_id) == pi
        assert incident.incident_type == "failedExternalTask"
        assert incident.incident_message == "no stock"
        assert incident.incident_timestamp is not None and incident.incident_timestamp.tzinfo is not None
        assert failed is not None and failed.retries == 0 and failed.error_message == "no stock"
        assert fetched == []

        response = server.http.put(f"/external-task/{created['id']}/retries", json={"retries": 1})
        assert (response.status_code, response.content) == (204, b"")

        async def recover() -> tuple[list, ExternalTaskSchema]:
            async with task_client(server, worker_id) as client, engine_client(server) as engine:
                remaining = await incidents_of(engine, created["id"])
                task = await fetch_one(client, topic)
                await client.complete(task.id, global_variables={"restocked": deserialize(True)})
                return remaining, task

        remaining, task = run(recover())
        assert remaining == []
        assert (task.id, task.retries, task.error_message) == (created["id"], 1, "no stock")
        assert task_status(server, created["id"]) == 404
        assert process_variables(server, pi)["restocked"]["value"] is True


class TestBpmnError:
    def test_bpmn_error_with_variables_ends_the_task(self, server: RunningServer, names: Names):
        topic, pi, worker_id = names.topic(), new_pi(), names.worker()
        created = server.create_task(topic, pi)

        async def go() -> ExternalTaskSchema | None:
            async with task_client(server, worker_id) as client, engine_client(server) as engine:
                task = await fetch_one(client, topic)
                await client.bpmn_error(
                    task.id, "INVOICE_REJECTED", "duplicate invoice", {"reason": deserialize("duplicate")}
                )
                return await engine.get_external_task(task.id)

        assert run(go()) is None  # the engine client answers None for a 404
        assert [log["workerId"] for log in history(server, created["id"], "deletionLog")] == [worker_id]
        assert process_variables(server, pi)["reason"] == {"type": "String", "value": "duplicate", "valueInfo": {}}

    def test_bpmn_error_without_message_sends_null(self, server: RunningServer, names: Names):
        """``bpmn_error(task, code)`` sends ``"errorMessage": null``; accepted (204)."""
        topic = names.topic()
        created = server.create_task(topic, new_pi())

        async def go() -> None:
            async with task_client(server, names.worker()) as client:
                task = await fetch_one(client, topic)
                await client.bpmn_error(task.id, "NO_MESSAGE")

        run(go())
        assert task_status(server, created["id"]) == 404


class TestLocks:
    def test_extend_lock_moves_the_expiry(self, server: RunningServer, names: Names):
        """``extend_lock(new_duration=600000)`` moves the expiry by about ten minutes; without a
        duration the client sends its configured lock duration; another worker is refused."""
        topic, owner, other = names.topic(), names.worker("owner"), names.worker("other")
        created = server.create_task(topic, new_pi())

        async def go() -> tuple[float, float, CamundaClientError]:
            async with task_client(server, owner) as client, engine_client(server) as engine:
                task = await fetch_one(client, topic)
                await client.extend_lock(task.id, new_duration=600_000)
                extended = await engine.get_external_task(task.id)
                await client.extend_lock(task.id)  # the configured 10 s
                reset = await engine.get_external_task(task.id)
                async with task_client(server, other) as intruder:
                    with pytest.raises(CamundaClientError) as raised:
                        await intruder.extend_lock(task.id, new_duration=600_000)
                await client.complete(task.id)
                return (
                    (extended.lock_expiration_time - task.lock_expiration_time).total_seconds(),
                    (reset.lock_expiration_time - dt.datetime.now(dt.timezone.utc)).total_seconds(),
                    raised.value,
                )

        moved, remaining, refused = run(go())
        assert moved > 500
        assert 0 < remaining <= 10.5
        assert refused.status_code == 400 and "cannot be extended by worker" in error_body(refused)["message"]
        assert task_status(server, created["id"]) == 404

    def test_unlock_releases_the_task_to_other_workers(self, server: RunningServer, names: Names):
        """``unlock`` (an empty body with a JSON content type) answers 204; worker and expiry are
        cleared and another worker fetches the task."""
        topic, owner, other = names.topic(), names.worker("owner"), names.worker("other")
        created = server.create_task(topic, new_pi())

        async def go() -> tuple[dict, ExternalTaskSchema]:
            async with task_client(server, owner) as client, task_client(server, other) as second:
                task = await fetch_one(client, topic)
                await client.unlock(task.id)
                unlocked = get_task(server, task.id)
                refetched = await fetch_one(second, topic)
                await second.complete(refetched.id)
                return unlocked, refetched

        unlocked, refetched = run(go())
        assert unlocked["workerId"] is None and unlocked["lockExpirationTime"] is None
        assert (refetched.id, refetched.worker_id) == (created["id"], other)
        assert task_status(server, created["id"]) == 404


class TestWorker:
    """The library's ``ExternalTaskWorker``: it polls the subscribed topics, hands each task to the
    topic's consumer as an ``ExternalTaskContext``, and reports a failure when the handler raises."""

    @staticmethod
    async def consume(
        server: RunningServer, worker_id: str, topic: str, handle: Callable[[Any, Any], Awaitable[None]], count: int
    ) -> None:
        async with task_client(server, worker_id) as client:
            worker = ExternalTaskWorker(client, pull_interval=timedelta(milliseconds=50))
            handled = 0
            async with worker:
                async with worker.subscribe(topic) as consumer:
                    async with asyncio.timeout(15):
                        async for context in consumer:
                            try:
                                async with context as task:
                                    await handle(context, task)
                            except RuntimeError:
                                pass  # the context has reported it as a failure
                            handled += 1
                            if handled == count:
                                break

    def test_worker_completes_and_throws_bpmn_errors(self, server: RunningServer, names: Names):
        """Two tasks (of two process instances) handled by one subscription: the handler completes
        one with a variable and throws a BPMN error with a variable for the other."""
        topic, worker_id = names.topic(), names.worker()
        pay_pi, reject_pi = new_pi(), new_pi()
        first = server.create_task(
            topic, pay_pi, variables={"amount": {"value": 12.5, "type": "Double"}, "kind": {"value": "pay"}}
        )
        second = server.create_task(topic, reject_pi, variables={"kind": {"value": "reject"}})
        seen: list[tuple[str, dict]] = []

        async def handle(context, task) -> None:
            seen.append((task.id, task.parsed_variables))
            if task.parsed_variables["kind"] == "pay":
                await context.complete({"total": deserialize(task.parsed_variables["amount"] * 2)})
            else:
                await context.bpmn_error("REJECTED", "rejected by rule", {"rule": deserialize("R1")})

        run(self.consume(server, worker_id, topic, handle, count=2))

        assert {task_id for task_id, _ in seen} == {first["id"], second["id"]}
        assert task_status(server, first["id"]) == 404 and task_status(server, second["id"]) == 404
        assert process_variables(server, pay_pi)["total"] == {"type": "Double", "value": 25.0, "valueInfo": {}}
        assert process_variables(server, reject_pi)["rule"]["value"] == "R1"
        assert len(history(server, second["id"], "deletionLog")) == 1

    def test_handler_exception_becomes_a_failure_and_an_incident(self, server: RunningServer, names: Names):
        """When the handler raises inside the task context, the context reports a failure with the
        exception's class name and traceback and no retries (``null``): an incident."""
        topic = names.topic()
        created = server.create_task(topic, new_pi())

        async def handle(context, task) -> None:
            raise RuntimeError("boom")

        run(self.consume(server, names.worker(), topic, handle, count=1))

        failed = get_task(server, created["id"])
        assert failed["retries"] == 0 and failed["errorMessage"] == "RuntimeError"
        details = server.http.get(f"/external-task/{created['id']}/errorDetails").text
        assert "RuntimeError: boom" in details and "Traceback" in details
        incidents = server.http.get("/incident", params={"configuration": created["id"]}).json()
        assert [i["incidentType"] for i in incidents] == ["failedExternalTask"]
