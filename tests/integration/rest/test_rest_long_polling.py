"""Long polling over HTTP: ``POST /external-task/fetchAndLock`` with ``asyncResponseTimeout``.

The app runs in the TestClient's event loop; held requests are sent from threads of their own,
and the tests wait for the poll to be parked (a condition, bounded) before acting.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from rest_support import BASE_URL, TestClient, assert_error

from extask.application.dto import NewExternalTask
from extask.infrastructure.bootstrap import Engine, build_engine
from extask.infrastructure.rest.app import create_app

BOUND = 5.0


def body(topic: str = "invoice", timeout_ms: int | None = 60_000, **fields: Any) -> dict[str, Any]:
    return {
        "workerId": "poller", "maxTasks": 1, "asyncResponseTimeout": timeout_ms,
        "topics": [{"topicName": topic, "lockDuration": 60_000}], **fields,
    }


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.002)


class HeldRequest:
    def __init__(self, client: TestClient, json: dict[str, Any]) -> None:
        self.response = None
        self.thread = threading.Thread(
            target=lambda: setattr(self, "response", client.post("/external-task/fetchAndLock", json=json)),
            daemon=True,
        )
        self.thread.start()

    def answer(self):
        self.thread.join(BOUND)
        assert not self.thread.is_alive(), "the held request did not answer"
        return self.response


@pytest.fixture
def small_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = build_engine(sqlite_url, max_parked_polls=1)
    yield engine
    engine.close()


@pytest.fixture
def client(small_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(small_engine.service, small_engine.long_polling), base_url=BASE_URL) as client:
        yield client


def hold(client: TestClient, engine: Engine, json: dict[str, Any]) -> HeldRequest:
    held = HeldRequest(client, json)
    wait_until(lambda: engine.long_polling.waiting == 1 or not held.thread.is_alive(), "the poll to park")
    assert held.thread.is_alive(), held.response.text
    return held


def test_a_held_request_answers_with_the_task_created_meanwhile(client, small_engine):
    held = hold(client, small_engine, body())
    task = client.post("/external-task/create", json={"topicName": "invoice"}).json()
    response = held.answer()
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert [t["id"] for t in response.json()] == [task["id"]]
    assert response.json()[0]["workerId"] == "poller"


def test_the_timeout_answers_an_empty_list(client):
    started = time.monotonic()
    response = client.post("/external-task/fetchAndLock", json=body(timeout_ms=200))
    assert (response.status_code, response.json()) == (200, [])
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize("timeout_ms", [None, 0])
def test_without_a_timeout_an_empty_topic_answers_at_once(client, small_engine, timeout_ms):
    response = client.post("/external-task/fetchAndLock", json=body(timeout_ms=timeout_ms))
    assert (response.status_code, response.json()) == (200, [])
    assert small_engine.long_polling.queries == 0


def test_bad_input_is_refused_at_once_not_held(client):
    response = client.post("/external-task/fetchAndLock", json=body(workerId=None))
    assert_error(response, 400, "NullValueException", "workerId is null")


def test_beyond_the_bound_a_poll_is_refused_with_camundas_500(client, small_engine):
    held = hold(client, small_engine, body())
    response = client.post("/external-task/fetchAndLock", json=body(workerId="second"))
    assert_error(
        response, 500, "InvalidRequestException",
        "At the moment the server has to handle too many requests at the same time. Please try again later.",
        code=None,
    )
    client.post("/external-task/create", json={"topicName": "invoice"})
    assert len(held.answer().json()) == 1


def test_shutting_the_app_down_answers_parked_polls(small_engine):
    """The lifespan's shutdown answers held requests (TestClient cannot read an answer given
    during its own shutdown, so this drives the app and its lifespan on one event loop)."""
    app = create_app(small_engine.service, small_engine.long_polling)

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
            async with app.router.lifespan_context(app):
                held = asyncio.ensure_future(http.post("/external-task/fetchAndLock", json=body()))
                deadline = time.monotonic() + BOUND
                while small_engine.long_polling.waiting < 1:
                    assert not held.done(), held.result().text
                    assert time.monotonic() < deadline, "the poll did not park"
                    await asyncio.sleep(0.002)
            return await asyncio.wait_for(held, BOUND)

    assert_error(
        asyncio.run(scenario()), 500, "RestException",
        "Request rejected due to shutdown of application server.", code=None,
    )


def test_an_app_without_a_poller_answers_at_once(small_engine):
    with TestClient(create_app(small_engine.service), base_url=BASE_URL) as client:
        response = client.post("/external-task/fetchAndLock", json=body())
    assert (response.status_code, response.json()) == (200, [])


def test_a_client_that_disconnects_frees_its_place_and_locks_nothing(small_engine):
    app = create_app(small_engine.service, small_engine.long_polling)
    request_body = [{"type": "http.request", "body": json.dumps(body()).encode(), "more_body": False}]
    gone = asyncio.Event()
    scope = {
        "type": "http", "http_version": "1.1", "method": "POST", "scheme": "http", "root_path": "",
        "path": "/engine-rest/external-task/fetchAndLock", "raw_path": b"/engine-rest/external-task/fetchAndLock",
        "query_string": b"", "headers": [(b"content-type", b"application/json")],
        "server": ("testserver", 80), "client": ("testclient", 50000),
    }

    async def receive() -> dict[str, Any]:
        if request_body:
            return request_body.pop()
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        pass

    async def scenario():
        async with app.router.lifespan_context(app):
            call = asyncio.ensure_future(app(scope, receive, send))
            deadline = time.monotonic() + BOUND
            while small_engine.long_polling.waiting < 1:
                assert not call.done() and time.monotonic() < deadline, "the poll did not park"
                await asyncio.sleep(0.002)
            gone.set()
            await asyncio.wait_for(call, BOUND)

    asyncio.run(scenario())
    assert small_engine.long_polling.parked == 0
    task = small_engine.service.create(NewExternalTask(topic_name="invoice"))
    assert small_engine.service.get_task(task.id).worker_id is None
