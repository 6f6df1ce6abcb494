"""Long polling across real server processes, and a server's shutdown with polls parked.

* Two ``extask serve`` processes on one PostgreSQL schema (two ports): a poll held by one answers
  as soon as a task is created through the other (LISTEN/NOTIFY). The latency is measured from
  the moment the create request returns, over 20 trials, and printed.
* ``extask serve --workers 2``: once both processes listen, polls answer whichever process the
  create lands on.
* On one SQLite file: a poll held by ``extask serve`` answers a task created by another server
  process, or by an application embedding the engine (the server watches the file).
* SIGTERM with a poll parked: the poll is answered at once with Camunda's shutdown error, and the
  server exits without waiting out the poll's timeout.

A poll counts as parked once it has been outstanding for ``PARKED_AFTER`` seconds (its first
try takes milliseconds); no step waits without a condition and a bound.
"""

from __future__ import annotations

import functools
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest

from extask.application.dto import NewExternalTask
from extask.infrastructure.bootstrap import build_engine
from tests.conftest import postgres_url
from tests.e2e.conftest import Names, _stop, start_server

PARKED_AFTER = 0.2  # s
BOUND = 10.0  # s: the most any answer below may take
TRIALS = 20


class Poll:
    """One ``fetchAndLock`` with a long ``asyncResponseTimeout``, sent from a thread of its own."""

    def __init__(self, base_url: str, topic: str, timeout_ms: int = 60_000) -> None:
        self.response: httpx.Response | None = None
        self.error: Exception | None = None
        self.answered_at: float | None = None
        body = {
            "workerId": "poller", "maxTasks": 1, "asyncResponseTimeout": timeout_ms,
            "topics": [{"topicName": topic, "lockDuration": 60_000}],
        }

        def run() -> None:
            try:
                with httpx.Client(timeout=timeout_ms / 1000 + BOUND) as http:
                    self.response = http.post(f"{base_url}/external-task/fetchAndLock", json=body)
            except Exception as error:  # reported by answer()
                self.error = error
            self.answered_at = time.monotonic()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def parked(self) -> Poll:
        self.thread.join(PARKED_AFTER)
        assert self.thread.is_alive(), f"answered at once: {self.response and self.response.text!r} {self.error!r}"
        return self

    def answer(self) -> httpx.Response:
        self.thread.join(BOUND)
        assert not self.thread.is_alive(), f"no answer within {BOUND} s"
        if self.error is not None:
            raise self.error
        return self.response


def create(base_url: str, topic: str) -> dict[str, Any]:
    """Create a task over REST; answers the task."""
    with httpx.Client(timeout=BOUND) as http:  # a new connection each time
        response = http.post(f"{base_url}/external-task/create", json={"topicName": topic})
    assert response.status_code == 200, response.text
    return response.json()


def measure(hold_on: str, create_task: Callable[[str], dict[str, Any]], names: Names) -> list[float]:
    """Latencies (s) from ``create_task(topic)`` returning to the poll held on ``hold_on`` answering."""
    latencies = []
    for trial in range(TRIALS):
        topic = names.topic(f"t{trial}")
        poll = Poll(hold_on, topic).parked()
        created = create_task(topic)
        created_at = time.monotonic()
        response = poll.answer()
        assert response.status_code == 200, response.text
        assert [task["id"] for task in response.json()] == [created["id"]]
        latencies.append(poll.answered_at - created_at)
    return latencies


def through(base_url: str) -> Callable[[str], dict[str, Any]]:
    return functools.partial(create, base_url)


def report(what: str, latencies: list[float], capsys) -> None:
    """Print the wake-up latencies. They are figures, not assertions: that each poll (held for 60 s)
    answered within ``BOUND`` of the create already proves the commit woke it."""
    with capsys.disabled():
        print(
            f"\n{what}: p50 {statistics.median(latencies) * 1000:.1f} ms, "
            f"max {max(latencies) * 1000:.1f} ms over {len(latencies)} trials"
        )


def listeners(schema_url: str) -> int:
    """How many server processes LISTEN on the schema's channel."""
    schema = schema_url.rsplit("schema=", 1)[1]
    with psycopg.connect(postgres_url(), autocommit=True) as admin:
        [(count,)] = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query = %s", (f'LISTEN "extask_{schema}"',)
        ).fetchall()
    return count


def wait_for_listeners(schema_url: str, expected: int) -> None:
    deadline = time.monotonic() + BOUND
    while listeners(schema_url) < expected:
        assert time.monotonic() < deadline, f"fewer than {expected} server processes listen"
        time.sleep(0.05)


@pytest.fixture
def serve(tmp_path) -> Iterator:
    """Starts ``extask serve`` processes (``serve(database_url, *options)`` -> base URL); stops them after."""
    processes = []

    def start(database_url: str, *options: str) -> str:
        log_dir = tmp_path / f"server-{len(processes)}"
        log_dir.mkdir()
        process, url, _ = start_server(database_url, log_dir, *options)
        processes.append(process)
        return f"{url}/engine-rest"

    start.processes = processes
    yield start
    for process in processes:
        _stop(process)


@pytest.mark.postgres
def test_a_poll_held_by_one_server_answers_a_task_created_through_another(
    serve, postgres_module_schema_url, names, capsys
):
    first = serve(postgres_module_schema_url)
    second = serve(postgres_module_schema_url)
    wait_for_listeners(postgres_module_schema_url, 2)
    report("cross-process wake-up (two extask serve)", measure(first, through(second), names), capsys)


@pytest.mark.postgres
def test_with_two_worker_processes_every_poll_answers_a_task_created_meanwhile(
    serve, postgres_module_schema_url, names, capsys
):
    base_url = serve(postgres_module_schema_url, "--workers", "2")
    wait_for_listeners(postgres_module_schema_url, 2)
    report("wake-up with --workers 2 (either process)", measure(base_url, through(base_url), names), capsys)


# SQLite: the server looks at the file every 50 ms while polls are parked.
def test_on_one_sqlite_file_a_poll_held_by_one_server_answers_a_task_created_through_another(
    serve, tmp_path, names, capsys
):
    database_url = f"sqlite:///{tmp_path / 'shared.db'}"
    first, second = serve(database_url), serve(database_url)
    latencies = measure(first, through(second), names)
    report("cross-process wake-up on one SQLite file (two extask serve)", latencies, capsys)


def test_on_one_sqlite_file_a_poll_held_by_the_server_answers_a_task_an_embedding_application_creates(
    serve, tmp_path, names, capsys
):
    database_url = f"sqlite:///{tmp_path / 'shared.db'}"
    base_url = serve(database_url)
    application = build_engine(database_url)
    try:
        def create_in_the_application(topic: str) -> dict[str, Any]:
            return {"id": application.service.create(NewExternalTask(topic_name=topic)).id}

        latencies = measure(base_url, create_in_the_application, names)
    finally:
        application.close()
    report("wake-up from an application embedding the engine on one SQLite file", latencies, capsys)


@pytest.mark.parametrize(
    "backend, options",
    [
        pytest.param("sqlite", (), id="sqlite"),
        pytest.param("postgres", ("--workers", "2"), id="postgres-2-workers", marks=pytest.mark.postgres),
    ],
)
def test_stopping_the_server_answers_parked_polls_at_once(serve, request, tmp_path, names, backend, options):
    if backend == "sqlite":
        database_url = f"sqlite:///{tmp_path / 'extask.db'}"
    else:
        database_url = request.getfixturevalue("postgres_module_schema_url")
    base_url = serve(database_url, *options)
    polls = [Poll(base_url, names.topic(f"t{i}"), timeout_ms=1_800_000).parked() for i in range(3)]
    stopped_at = time.monotonic()
    serve.processes[-1].terminate()
    for poll in polls:
        response = poll.answer()
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "type": "RestException", "message": "Request rejected due to shutdown of application server.", "code": None,
        }
    assert serve.processes[-1].wait(BOUND) is not None
    assert time.monotonic() - stopped_at < BOUND


def test_a_poll_whose_client_gave_up_frees_its_place_and_locks_nothing(serve, tmp_path, names):
    base_url = serve(f"sqlite:///{tmp_path / 'extask.db'}", "--max-parked-polls", "1")
    topic = names.topic()
    body = {
        "workerId": "gave-up", "maxTasks": 1, "asyncResponseTimeout": 60_000,
        "topics": [{"topicName": topic, "lockDuration": 60_000}],
    }
    with httpx.Client(timeout=httpx.Timeout(BOUND, read=2 * PARKED_AFTER)) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            impatient.post(f"{base_url}/external-task/fetchAndLock", json=body)
    # The only place is free again once the server has noticed the disconnect.
    deadline = time.monotonic() + BOUND
    while True:
        poll = Poll(base_url, topic)
        poll.thread.join(PARKED_AFTER)
        if poll.thread.is_alive():
            break
        assert poll.answer().status_code == 500, poll.response.text  # still taken: try again
        assert time.monotonic() < deadline, "the place of the abandoned poll was never freed"
    created = create(base_url, topic)
    response = poll.answer()
    assert [task["id"] for task in response.json()] == [created["id"]]
    assert response.json()[0]["workerId"] == "poller"
