"""The validation and error matrix of the reference (spec section 4), one table, one test.

Each row is one line of the matrix: the operation, the state it starts from, the request, and the
answer extask gives: status, Camunda exception type and message (templates filled from the
setup: ``{id}`` the task, ``{incident}`` its incident, ``{nowMillis}`` the clock). Where Camunda
answers bad input with 500, extask answers 400 with the same type and message
(docs/camunda-compatibility.md); ``camunda`` records Camunda's status for those rows. Rows marked
"docs" come from that page's table, not from section 4. Every refused request must change nothing: the
event store's position is the same after it as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from rest_support import BASE_URL, TestClient, assert_error

from extask.application.errors import ConcurrentModification
from extask.infrastructure.bootstrap import Engine, build_engine
from extask.infrastructure.rest.app import create_app

W, OTHER = "w", "intruder"
SUSPENDED = "ENGINE-03043 ExternalTask with id '{id}' is suspended."
NOT_FOUND = "External task with id {id} does not exist"
UNKNOWN = "unknown-id"


@dataclass
class World:
    client: TestClient
    engine: Engine
    clock: Any
    monkeypatch: pytest.MonkeyPatch
    ctx: dict[str, Any] = field(default_factory=lambda: {"id": UNKNOWN, "incident": UNKNOWN})

    def create(self, **fields: Any) -> str:
        response = self.client.post("/external-task/create", json={"topicName": "invoice", **fields})
        assert response.status_code == 200, response.text
        return response.json()["id"]

    def lock(self, **fields: Any) -> str:
        task_id = self.create(**fields)
        response = self.client.post(f"/external-task/{task_id}/lock", json={"workerId": W, "lockDuration": 60_000})
        assert response.status_code == 204, response.text
        return task_id


# -- the states a row starts from ---------------------------------------------------------------


def nothing(world: World) -> None:
    pass


def created(world: World) -> None:
    world.ctx["id"] = world.create()


def locked(world: World) -> None:
    world.ctx["id"] = world.lock()


def lock_expired(world: World) -> None:
    world.ctx["id"] = world.lock()
    world.clock.advance(60_001)
    world.ctx["nowMillis"] = int(world.clock.now.timestamp() * 1000)


def suspended(world: World) -> None:
    world.ctx["id"] = world.lock(processInstanceId="pi-1")
    response = world.client.put("/process-instance/pi-1/suspended", json={"suspended": True})
    assert response.status_code == 204, response.text


def with_incident(world: World) -> None:
    task_id = world.ctx["id"] = world.lock()
    response = world.client.post(f"/external-task/{task_id}/failure", json={"workerId": W, "errorMessage": "boom"})
    assert response.status_code == 204, response.text
    [incident] = world.client.get("/incident", params={"configuration": task_id}).json()
    world.ctx["incident"] = incident["id"]


def writers_keep_conflicting(world: World) -> None:
    """Concurrent writers kept winning: what the service raises after its retries on fresh state."""
    locked(world)

    async def conflict(*args: Any, **kwargs: Any) -> None:
        raise ConcurrentModification(
            "ENGINE-03005 The command kept conflicting with concurrent modifications of the same "
            "entities and was not applied."
        )

    world.monkeypatch.setattr(world.engine.service, "complete_async", conflict)


# -- the matrix -----------------------------------------------------------------------------------


@dataclass
class Row:
    id: str  # "operation | input problem", as in the matrix
    setup: Callable[[World], None]
    method: str
    path: str
    request: dict[str, Any]  # json= / content= / params= / headers= for the client
    status: int
    type: str
    message: str | re.Pattern[str]
    camunda: int | None = None  # Camunda's status where extask deliberately differs
    code: Any = ...  # the expected ``code``; ... = not checked
    max_parked_polls: int = 200

    @property
    def param(self) -> Any:
        differs = f" (Camunda {self.camunda})" if self.camunda else ""
        return pytest.param(self, id=f"{self.id} -> {self.status} {self.type}{differs}")


def fetch(**body: Any) -> dict[str, Any]:
    topic = {"topicName": "invoice", "lockDuration": 1000}
    return {"json": {"workerId": W, "maxTasks": 1, "topics": [topic], **body}}


def topic(**fields: Any) -> dict[str, Any]:
    return {"json": {"workerId": W, "maxTasks": 1, "topics": [{"topicName": "invoice", "lockDuration": 1000, **fields}]}}


FETCH = ("POST", "/external-task/fetchAndLock")
SORT_NULL = "Invalid query: call asc() or desc() after using orderByXX(): direction is null"
TOO_MANY = "At the moment the server has to handle too many requests at the same time. Please try again later."


def per_command(problem: str, setup: Callable[[World], None], commands: dict[str, dict[str, Any]], status: int,
                camunda_type: str, message: str, camunda: int | None = None) -> list[Any]:
    return [
        Row(f"{name} | {problem}", setup, "POST", f"/external-task/{{id}}/{name}", {"json": body}, status,
            camunda_type, message, camunda).param
        for name, body in commands.items()
    ]


WORKER_COMMANDS = {
    "complete": {"workerId": W},
    "failure": {"workerId": W, "retries": 1},
    "bpmnError": {"workerId": W, "errorCode": "E1"},
    "lock": {"workerId": W, "lockDuration": 1000},
    "extendLock": {"workerId": W, "newDuration": 1000},
}
WITHOUT_WORKER = {name: {k: v for k, v in body.items() if k != "workerId"} for name, body in WORKER_COMMANDS.items()}
SUSPENDABLE = {name: body for name, body in WORKER_COMMANDS.items() if name != "lock"}
RETRIES_BULK = (("PUT", "/external-task/retries"), ("POST", "/external-task/retries-async"))

MATRIX = [
    # fetchAndLock
    Row("fetchAndLock | workerId null", nothing, *FETCH, fetch(workerId=None), 400, "NullValueException",
        "workerId is null", camunda=500).param,
    Row("fetchAndLock | maxTasks < 0", nothing, *FETCH, fetch(maxTasks=-1), 400, "ProcessEngineException",
        "maxResults is not greater than or equal to 0", camunda=500).param,
    Row("fetchAndLock | topicName null", nothing, *FETCH, topic(topicName=None), 400, "NullValueException",
        "topicName is null", camunda=500).param,
    Row("fetchAndLock | lockDuration 0", nothing, *FETCH, topic(lockDuration=0), 400, "ProcessEngineException",
        "lockTime is not greater than 0", camunda=500).param,
    Row("fetchAndLock | lockDuration < 0", nothing, *FETCH, topic(lockDuration=-1), 400, "ProcessEngineException",
        "lockTime is not greater than 0", camunda=500).param,
    Row("fetchAndLock | lockDuration missing", nothing, *FETCH, topic(lockDuration=None), 400,
        "ProcessEngineException", "lockTime is not greater than 0", camunda=500).param,
    Row("fetchAndLock | sortBy != createTime", nothing, *FETCH, fetch(sorting=[{"sortBy": "id", "sortOrder": "asc"}]),
        400, "InvalidRequestException", "Cannot set query sortBy parameter to value id").param,
    Row("fetchAndLock | sortOrder not asc/desc", nothing, *FETCH,
        fetch(sorting=[{"sortBy": "createTime", "sortOrder": "DESC"}]), 400, "InvalidRequestException",
        "Cannot set query sortOrder parameter to value DESC").param,
    Row("fetchAndLock | sortOrder null", nothing, *FETCH, fetch(sorting=[{"sortBy": "createTime"}]), 400,
        "NotValidException", SORT_NULL).param,
    Row("fetchAndLock | asyncResponseTimeout > 1800000", nothing, *FETCH, fetch(asyncResponseTimeout=1_800_001), 400,
        "InvalidRequestException",
        "The asynchronous response timeout cannot be set to a value greater than 1800000 milliseconds").param,
    Row("fetchAndLock | queue full", nothing, *FETCH, fetch(asyncResponseTimeout=60_000), 500,
        "InvalidRequestException", TOO_MANY, max_parked_polls=0).param,
    # lock
    Row("lock | lockDuration <= 0", created, "POST", "/external-task/{id}/lock", {"json": {"workerId": W}}, 400,
        "RestException", "lockDuration is not greater than 0").param,
    Row("lock | other worker holds valid lock", locked, "POST", "/external-task/{id}/lock",
        {"json": {"workerId": OTHER, "lockDuration": 1000}}, 400, "RestException",
        f"External Task {{id}} cannot be locked by worker '{OTHER}'. It is locked by worker '{W}'.").param,
    # unknown task, every worker command
    *per_command("unknown id", nothing, WORKER_COMMANDS, 404, "RestException", NOT_FOUND),
    # wrong worker
    Row("complete | wrong worker", locked, "POST", "/external-task/{id}/complete", {"json": {"workerId": OTHER}},
        400, "RestException",
        f"External Task {{id}} cannot be completed by worker '{OTHER}'. It is locked by worker '{W}'.").param,
    Row("failure | wrong worker", locked, "POST", "/external-task/{id}/failure", {"json": {"workerId": OTHER}},
        400, "RestException",
        f"Failure of External Task {{id}} cannot be reported by worker '{OTHER}'. It is locked by worker '{W}'.").param,
    Row("bpmnError | wrong worker", locked, "POST", "/external-task/{id}/bpmnError",
        {"json": {"workerId": OTHER, "errorCode": "E1"}}, 400, "RestException",
        f"Bpmn error of External Task {{id}} cannot be reported by worker '{OTHER}'. "
        f"It is locked by worker '{W}'.").param,
    Row("extendLock | wrong worker", locked, "POST", "/external-task/{id}/extendLock",
        {"json": {"workerId": OTHER, "newDuration": 1000}}, 400, "RestException",
        f"The lock of the External Task {{id}} cannot be extended by worker '{OTHER}''. "
        f"It is locked by worker '{W}'.").param,
    Row("extendLock | never locked", created, "POST", "/external-task/{id}/extendLock",
        {"json": {"workerId": W, "newDuration": 1000}}, 400, "RestException",
        f"The lock of the External Task {{id}} cannot be extended by worker '{W}''. "
        "It is locked by worker 'null'.").param,
    Row("extendLock | newDuration <= 0", locked, "POST", "/external-task/{id}/extendLock",
        {"json": {"workerId": W, "newDuration": 0}}, 400, "RestException", "lockTime is not greater than 0").param,
    Row("extendLock | lock expired", lock_expired, "POST", "/external-task/{id}/extendLock",
        {"json": {"workerId": W, "newDuration": 1000}}, 400, "RestException",
        "Cannot extend a lock that expired: lockExpirationTime is not greater than or equal to {nowMillis}").param,
    # suspended
    *per_command("suspended", suspended, SUSPENDABLE, 400, "RestException", SUSPENDED),
    # workerId null
    *per_command("workerId null", locked, WITHOUT_WORKER, 400, "NullValueException", "workerId is null", camunda=500),
    Row("bpmnError | errorCode null", locked, "POST", "/external-task/{id}/bpmnError", {"json": {"workerId": W}},
        400, "NullValueException", "errorCode is null", camunda=500).param,
    Row("failure | retries < 0", locked, "POST", "/external-task/{id}/failure",
        {"json": {"workerId": W, "retries": -1}}, 400, "ProcessEngineException",
        "retries is not greater than or equal to 0", camunda=500).param,
    Row("failure | retryTimeout < 0", locked, "POST", "/external-task/{id}/failure",
        {"json": {"workerId": W, "retries": 1, "retryTimeout": -1}}, 400, "ProcessEngineException",
        "retryDuration is not greater than or equal to 0", camunda=500).param,
    # retries of one task
    Row("PUT {id}/retries | retries null", created, "PUT", "/external-task/{id}/retries", {"json": {"retries": None}},
        400, "InvalidRequestException", "The number of retries cannot be null.").param,
    Row("PUT {id}/retries | retries < 0", created, "PUT", "/external-task/{id}/retries", {"json": {"retries": -1}},
        400, "BadUserRequestException",
        "The number of retries cannot be negative: retries is not greater than or equal to 0").param,
    Row("PUT {id}/retries | unknown id", nothing, "PUT", "/external-task/{id}/retries", {"json": {"retries": 1}},
        404, "RestException", NOT_FOUND).param,
    Row("PUT {id}/priority | unknown id", nothing, "PUT", "/external-task/{id}/priority", {"json": {"priority": 1}},
        404, "RestException", NOT_FOUND).param,
    Row("POST {id}/unlock | unknown id", nothing, "POST", "/external-task/{id}/unlock", {}, 404, "RestException",
        NOT_FOUND).param,
    # retries of many tasks
    *[
        Row(f"{method} {path.removeprefix('/external-task')} | {problem}", setup, method, path, {"json": body},
            400, "InvalidRequestException", message).param
        for method, path in RETRIES_BULK
        for problem, setup, body, message in (
            ("retries null", created, {"externalTaskIds": ["{id}"]}, "The number of retries cannot be null."),
            ("empty selection", nothing, {"retries": 1}, "externalTaskIds is empty"),
            ("null id in list", created, {"retries": 1, "externalTaskIds": ["{id}", None]},
             "External task id cannot be null: externalTaskIds contains null value"),
        )
    ],
    Row("PUT /retries | unknown id", created, "PUT", "/external-task/retries",
        {"json": {"retries": 1, "externalTaskIds": ["{id}", UNKNOWN]}}, 404, "InvalidRequestException",
        f"Cannot find external task with id {UNKNOWN}: externalTask is null").param,
    Row("PUT /retries | retries < 0", created, "PUT", "/external-task/retries",
        {"json": {"retries": -1, "externalTaskIds": ["{id}"]}}, 400, "InvalidRequestException",
        "The number of retries cannot be negative: retries is not greater than or equal to 0").param,
    # reads
    Row("GET {id}/errorDetails | unknown id", nothing, "GET", "/external-task/{id}/errorDetails", {}, 404,
        "NullValueException", "No external task found with id {id}: externalTask is null", camunda=500).param,
    Row("GET {id} | unknown id", nothing, "GET", "/external-task/{id}", {}, 404, "RestException", NOT_FOUND).param,
    Row("GET history log {id} | unknown", nothing, "GET", "/history/external-task-log/{id}", {}, 404,
        "InvalidRequestException", "Historic external task log with id {id} does not exist").param,
    Row("GET history log {id}/error-details | unknown", nothing, "GET", "/history/external-task-log/{id}/error-details",
        {}, 404, "InvalidRequestException",
        "No historic external task log found with id {id}: historicExternalTaskLog is null").param,
    Row("DELETE /incident/{id} | failedExternalTask incident", with_incident, "DELETE", "/incident/{incident}", {},
        400, "InvalidRequestException", "Cannot resolve an incident of type failedExternalTask").param,
    # any request: extask names the field where Camunda says nothing
    Row("any | malformed JSON", locked, "POST", "/external-task/{id}/complete",
        {"content": b'{"workerId": ', "headers": {"Content-Type": "application/json"}}, 400,
        "InvalidRequestException", re.compile(r"The request body is not valid JSON: .+")).param,
    Row("any | body not UTF-8", locked, "POST", "/external-task/{id}/complete",
        {"content": b'{"workerId": "\xe8"}', "headers": {"Content-Type": "application/json"}}, 400,
        "InvalidRequestException", re.compile(r".+")).param,
    Row("any | wrong JSON type", locked, "POST", "/external-task/{id}/failure",
        {"json": {"workerId": W, "retries": "1"}}, 400, "InvalidRequestException",
        re.compile(r"Invalid value for 'retries': .+")).param,
    Row("any command | concurrent modification", writers_keep_conflicting, "POST", "/external-task/{id}/complete",
        {"json": {"workerId": W}}, 500, "OptimisticLockingException", re.compile(r"ENGINE-03005 .+"), code=1).param,
    # rows of docs/camunda-compatibility.md beyond section 4
    Row("docs: PUT {id}/priority | priority null", created, "PUT", "/external-task/{id}/priority",
        {"json": {}}, 400, "NullValueException", "priority is null", camunda=500).param,
    Row("docs: any | body not JSON", locked, "POST", "/external-task/{id}/complete",
        {"content": b"workerId=w", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 400,
        "InvalidRequestException", re.compile(r".+"), camunda=415).param,
    Row("docs: GET list | firstResult negative", nothing, "GET", "/external-task", {"params": {"firstResult": "-1"}},
        400, "InvalidRequestException", re.compile(r"Cannot set query parameter 'firstResult' to value '-1'.*")).param,
    Row("docs: failure | retries beyond a Java int", locked, "POST", "/external-task/{id}/failure",
        {"json": {"workerId": W, "retries": 2**31}}, 400, "InvalidRequestException",
        re.compile(r"Invalid value for 'retries': .+")).param,
]


@pytest.fixture
def world(request, sqlite_url, clock, monkeypatch):
    row: Row = request.param
    engine = build_engine(sqlite_url, clock=clock, max_parked_polls=row.max_parked_polls)
    app = create_app(engine.service, engine.long_polling, engine.batches)
    with TestClient(app, base_url=BASE_URL) as client:
        yield World(client, engine, clock, monkeypatch)
    engine.close()


def _fill(value: Any, ctx: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return value.format(**ctx)
    if isinstance(value, list):
        return [_fill(item, ctx) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, ctx) for key, item in value.items()}
    return value


@pytest.mark.parametrize(("world", "row"), [pytest.param(p.values[0], p.values[0], id=p.id) for p in MATRIX],
                         indirect=["world"])
def test_error_matrix(world: World, row: Row) -> None:
    row.setup(world)
    position = world.engine.event_store.recorder.max_notification_id()
    request = {k: _fill(v, world.ctx) if k != "content" else v for k, v in row.request.items()}
    response = world.client.request(row.method, row.path.format(**world.ctx), **request)
    if isinstance(row.message, re.Pattern):
        assert_error(response, row.status, row.type, code=row.code)
        assert row.message.fullmatch(response.json()["message"]), response.json()
    else:
        assert_error(response, row.status, row.type, row.message.format(**world.ctx), code=row.code)
    assert world.engine.event_store.recorder.max_notification_id() == position, "a refused request changed state"
