"""The worker commands' short way past FastAPI answers every request exactly as FastAPI does.

The same scenario runs twice, on two engines with the same clock: once through the app as built
(the worker commands served by ``WorkerCommands``) and once through the same app without that
middleware, where FastAPI's routes answer everything. Status, headers and bodies must be equal,
for answers and for every kind of refusal.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MethodType
from typing import Any

from fastapi import FastAPI

from rest_support import BASE_URL, TestClient

from extask.infrastructure.bootstrap import build_engine
from extask.infrastructure.rest.app import create_app

W = "worker-1"
LOCKED = {"workerId": W, "maxTasks": 5, "topics": [{"topicName": "t", "lockDuration": 60_000}]}
# Valid JSON that the json module gives up on (RecursionError): a body FastAPI cannot parse either.
DEEPLY_NESTED = b'{"workerId": "w", "variables": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def scenario(post: Callable[..., Any], task_id: str) -> list[Any]:
    """Worker commands good and bad against one locked task; what each answered."""
    path = f"/external-task/{task_id}"
    return [
        post("/external-task/fetchAndLock", json={**LOCKED, "asyncResponseTimeout": 10**9}),  # beyond the bound
        post("/external-task/fetchAndLock", json={"maxTasks": 1, "topics": []}),  # no worker id
        post("/external-task/fetchAndLock", json={"workerId": W, "maxTasks": "many"}),  # does not validate
        post("/external-task/fetchAndLock", content=b"[]", headers={"Content-Type": "application/json"}),
        post("/external-task/fetchAndLock", content=b"{", headers={"Content-Type": "application/json"}),
        post(f"{path}/extendLock", json={"workerId": W, "newDuration": 1000}),
        post(f"{path}/extendLock", json={"workerId": "someone else", "newDuration": 1000}),
        post(f"{path}/failure", json={"workerId": W, "retries": -1}),
        post(f"{path}/failure", json={"workerId": W, "retries": "1"}),
        post(f"{path}/failure", json={"workerId": W, "errorMessage": "boom", "retries": 1, "retryTimeout": 0}),
        post(f"{path}/bpmnError", json={"workerId": W}),
        post(f"{path}/complete", json={"workerId": "someone else"}),
        post(f"{path}/complete", json={"workerId": W, "variables": {"x": {"value": "nope", "type": "Integer"}}}),
        post(f"{path}/complete", content=b"workerId=w", headers={"Content-Type": "application/x-www-form-urlencoded"}),
        post(f"{path}/complete"),  # no body at all: workerId is null
        post(f"{path}/complete", content=DEEPLY_NESTED, headers={"Content-Type": "application/json"}),
        post("/external-task/fetchAndLock", json=LOCKED),  # the task again, after its failure
        post(f"{path}/complete", json={"workerId": W, "variables": {"x": {"value": 1, "type": "Integer"}}}),
        post(f"{path}/complete", json={"workerId": W}),  # gone
        post("/external-task/not-a-uuid/complete", json={"workerId": W}),
    ]


def answers(app_factory: Callable[[Any], Any], url: str, clock, run: str) -> list[tuple[int, dict[str, str], Any]]:
    engine = build_engine(url, clock=clock)
    try:
        with TestClient(app_factory(engine), base_url=BASE_URL) as client:
            task = client.post("/external-task/create", json={"topicName": "t", "processInstanceId": run}).json()
            fetched = client.post("/external-task/fetchAndLock", json=LOCKED).json()
            assert [t["id"] for t in fetched] == [task["id"]]
            replies = scenario(client.post, task["id"])
            return [_comparable(reply, task["id"]) for reply in replies]
    finally:
        engine.close()


def _comparable(reply, task_id: str) -> tuple[int, dict[str, str], Any]:
    headers = {k: v for k, v in reply.headers.items() if k in ("content-type", "content-length")}
    body = reply.json() if reply.content else None
    if isinstance(body, list):  # fetched tasks: ids, times and execution ids differ between the two engines
        body = [
            {k: v for k, v in t.items() if k not in ("id", "executionId", "activityInstanceId", "processInstanceId")}
            for t in body
        ]
    elif isinstance(body, dict) and isinstance(body.get("message"), str):
        body = {**body, "message": body["message"].replace(task_id, "<id>")}
    return reply.status_code, headers, body


def without_lane(engine):
    """The app with FastAPI's own middleware stack only."""
    app = create_app(engine.service, engine.long_polling, engine.batches)
    app.build_middleware_stack = MethodType(FastAPI.build_middleware_stack, app)
    return app


def test_the_worker_commands_answer_as_fastapi_would(database_url, clock):
    """Run one after the other on the same database, each in a process instance of its own: each
    run's task has ended before the next one starts, so the second fetch finds only its own."""
    with_lane = answers(lambda engine: create_app(engine.service, engine.long_polling, engine.batches), database_url, clock, "run-1")
    plain = answers(without_lane, database_url, clock, "run-2")
    assert with_lane == plain
    statuses = [status for status, _, _ in with_lane]
    assert statuses == [400, 400, 400, 400, 400, 204, 400, 400, 400, 204, 400, 400, 400, 400, 400, 400, 200, 204, 404, 404]


def test_an_unexpected_error_is_a_500_as_from_fastapi(sqlite_url, clock, monkeypatch):
    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the disk is on fire")

    replies = []
    for app_factory in (lambda e: create_app(e.service, e.long_polling, e.batches), without_lane):
        engine = build_engine(sqlite_url, clock=clock)
        monkeypatch.setattr(engine.service, "complete_async", broken)
        try:
            with TestClient(app_factory(engine), base_url=BASE_URL, raise_server_exceptions=False) as client:
                reply = client.post("/external-task/some-id/complete", json={"workerId": W})
                body = reply.json()
                body["message"] = body["message"].rsplit(" ", 1)[0]  # each answer has its correlation id
                replies.append((reply.status_code, reply.headers["content-type"], body))
        finally:
            engine.close()
    assert replies[0] == replies[1] == (
        500, "application/json", {
            "type": "ProcessEngineException", "code": None,
            "message": "An unexpected error occurred; the server's log has its details under correlation id",
        },
    )
