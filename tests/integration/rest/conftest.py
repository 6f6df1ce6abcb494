"""REST fixtures: the FastAPI app over a real engine on SQLite, with the shared fixed clock.

``api`` is an ``Api``: the TestClient (paths relative to ``/engine-rest``) plus shorthands for
the calls most scenarios start with. ``lifecycle_api`` is the same over both backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rest_support import BASE_URL, TestClient

from extask.infrastructure.bootstrap import Engine, build_engine
from extask.infrastructure.rest.app import create_app, serve


class Api:
    def __init__(self, client: TestClient, engine: Engine) -> None:
        self.client = client
        self.engine = engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)  # get, post, put, delete, request

    def create_task(self, topic: str = "invoice", **fields: Any) -> dict[str, Any]:
        response = self.client.post("/external-task/create", json={"topicName": topic, **fields})
        assert response.status_code == 200, response.text
        return response.json()

    def fetch(
        self, worker: str = "worker-1", topic: str = "invoice", max_tasks: int = 10, **topic_fields: Any
    ) -> list[dict[str, Any]]:
        body = {
            "workerId": worker,
            "maxTasks": max_tasks,
            "topics": [{"topicName": topic, "lockDuration": 60_000, **topic_fields}],
        }
        response = self.client.post("/external-task/fetchAndLock", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def locked_task(self, worker: str = "worker-1", topic: str = "invoice", **fields: Any) -> dict[str, Any]:
        """A new task, fetched and locked by ``worker``."""
        task = self.create_task(topic, **fields)
        assert [t["id"] for t in self.fetch(worker, topic)] == [task["id"]]
        return task

    def task(self, task_id: str) -> dict[str, Any]:
        response = self.client.get(f"/external-task/{task_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def history(self, **params: Any) -> list[dict[str, Any]]:
        response = self.client.get("/history/external-task-log", params=params)
        assert response.status_code == 200, response.text
        return response.json()


# One app serves every scenario's engine in turn: building an app per scenario took about a third
# of these tests' time.
_APP = create_app(None)  # type: ignore[arg-type]


def make_api(engine: Engine) -> Iterator[Api]:
    serve(_APP, engine.service, engine.long_polling, engine.batches, engine.audit)
    try:
        with TestClient(_APP, base_url=BASE_URL) as client:
            yield Api(client, engine)
    finally:
        serve(_APP, None)


@pytest.fixture
def rest_engine(sqlite_url: str, clock) -> Iterator[Engine]:
    engine = build_engine(sqlite_url, clock=clock)
    yield engine
    engine.close()


@pytest.fixture
def api(rest_engine: Engine) -> Iterator[Api]:
    yield from make_api(rest_engine)


@pytest.fixture
def lifecycle_api(engine: Engine) -> Iterator[Api]:
    """Over SQLite and PostgreSQL (the shared ``engine`` fixture is parametrised by backend)."""
    yield from make_api(engine)

