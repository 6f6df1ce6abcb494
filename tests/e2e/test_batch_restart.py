"""A retries-async batch that was running when its server stopped is finished by the next server
started on the same database: the stopping server lets it go, the new one takes it up at start.

The batch covers enough tasks (``TASKS``) that it is still running when the first progress it
saves (every 100 tasks) is seen over REST and the server is sent SIGTERM at once; the event store
then shows that the stopping server let it go.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from uuid import UUID

import httpx
import pytest

from extask.infrastructure.bootstrap import build_engine
from tests.e2e.conftest import _stop, start_server

# Seen here: the batch had 200 tasks' outcomes when the stopping server let it go, so the rest
# leave ample room: on a faster machine the stop and each task take less time alike.
TASKS = 2_000
RETRIES = 4
DEADLINE = 60.0  # s: the most either wait below may take


def wait_for_batch(http: httpx.Client, batch_id: str, done: Callable[[dict], bool]) -> dict:
    """Poll the batch over REST (the only way a client can watch it) until ``done`` holds."""
    deadline = time.monotonic() + DEADLINE
    while True:
        batch = http.get(f"/batch/{batch_id}").raise_for_status().json()
        if done(batch):
            return batch
        assert time.monotonic() < deadline, f"batch never got there: {batch}"
        time.sleep(0.02)  # nothing to wait on over HTTP: the batch's progress is only polled


def batch_events(database_url: str, batch_id: str) -> list[str]:
    engine = build_engine(database_url)
    try:
        return [type(event).__name__ for event in engine.event_store.events.get(UUID(batch_id))]
    finally:
        engine.close()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_batch_stopped_with_its_server_is_finished_by_the_next_server(request, tmp_path, backend, names):
    if backend == "sqlite":
        database_url = f"sqlite:///{tmp_path / 'extask.db'}"
    else:
        database_url = request.getfixturevalue("postgres_schema_url")
    topic = names.topic()
    first, url, _ = start_server(database_url, tmp_path)
    try:
        with httpx.Client(base_url=f"{url}/engine-rest", timeout=30) as http:
            for _ in range(TASKS // 500):
                body = {"tasks": [{"topicName": topic} for _ in range(500)]}
                http.post("/external-task/create/batch", json=body).raise_for_status()
            batch = http.post(
                "/external-task/retries-async", json={"externalTaskQuery": {"topicName": topic}, "retries": RETRIES}
            ).raise_for_status().json()
            wait_for_batch(http, batch["id"], lambda b: b["jobsCreated"] >= 100)
            first.terminate()
            first.wait(DEADLINE)
    finally:
        _stop(first)
    assert batch_events(database_url, batch["id"])[-1] == "Interrupted"

    second, url, stderr_path = start_server(database_url, tmp_path)
    try:
        with httpx.Client(base_url=f"{url}/engine-rest", timeout=30) as http:
            finished = wait_for_batch(http, batch["id"], lambda b: b["ended"])
            tasks = http.get("/external-task", params={"topicName": topic}).raise_for_status().json()
    finally:
        _stop(second)

    assert (finished["completedJobs"], finished["failedJobs"]) == (TASKS, 0)
    assert len(tasks) == TASKS and {task["retries"] for task in tasks} == {RETRIES}
    events = batch_events(database_url, batch["id"])
    assert events.count("Interrupted") == 1 and events.count("Resumed") == 1
    assert events.index("Interrupted") < events.index("Resumed") < events.index("Completed")
    assert events.count("TaskRetriesSet") == TASKS  # the first server saved what it did before it let go
    assert "Traceback" not in stderr_path.read_text()
