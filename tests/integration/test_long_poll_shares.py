"""One client's share of the long-poll slots, over the REST app (issue 23, point 7).

A client is the peer address of its requests. With 8 slots a client holds at most 2 (a quarter):
its next long poll is refused as a poll beyond every slot is (Camunda's 500 with its error body),
while another client's poll still parks and is answered. Each client here is an ASGI transport
with an address of its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from extask.infrastructure.bootstrap import Engine, build_engine
from extask.infrastructure.rest.app import create_app

BASE_URL = "http://localhost/engine-rest"
BOUND = 10.0  # s


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    engine = build_engine(sqlite_url, max_parked_polls=8)
    yield engine
    engine.close()


def poll_body(topic: str, worker: str) -> dict:
    return {
        "workerId": worker, "maxTasks": 1, "asyncResponseTimeout": 60_000,
        "topics": [{"topicName": topic, "lockDuration": 60_000}],
    }


async def until(condition, what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def test_a_client_beyond_its_share_is_refused_while_another_clients_poll_is_served(engine):
    app = create_app(engine.service, engine.long_polling)
    poller = engine.long_polling
    assert poller.max_parked_per_client == 2

    def client(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40_000))
        return httpx.AsyncClient(transport=transport, base_url=BASE_URL, timeout=BOUND)

    async def scenario():
        async with client("10.0.0.1") as greedy, client("10.0.0.2") as other:
            held = [
                asyncio.ensure_future(greedy.post("/external-task/fetchAndLock", json=poll_body("greedy", f"g{i}")))
                for i in range(2)
            ]
            await until(lambda: poller.waiting == 2, "the greedy client's polls to park")
            refused = await greedy.post("/external-task/fetchAndLock", json=poll_body("greedy", "g3"))
            served = asyncio.ensure_future(other.post("/external-task/fetchAndLock", json=poll_body("other", "o")))
            await until(lambda: poller.waiting == 3, "the other client's poll to park")
            created = await other.post("/external-task/create", json={"topicName": "other"})
            answer = await served
            await greedy.post("/external-task/create", json={"topicName": "greedy"})
            await greedy.post("/external-task/create", json={"topicName": "greedy"})
            greedy_answers = await asyncio.gather(*held)
            return refused, created.json(), answer, greedy_answers

    refused, created, answer, greedy_answers = asyncio.run(scenario())
    assert refused.status_code == 500
    assert refused.json() == {
        "type": "InvalidRequestException",
        "message": "At the moment the server has to handle too many requests of this client at the same time: "
        "it holds 2 long polls, the most one client may hold (max_parked_per_client). Please try again later.",
        "code": None,
    }
    assert answer.status_code == 200 and [task["id"] for task in answer.json()] == [created["id"]]
    assert sorted(len(response.json()) for response in greedy_answers) == [1, 1]
    assert poller.parked == 0
