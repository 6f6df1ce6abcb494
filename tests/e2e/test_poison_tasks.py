"""Poison tasks, unbounded fetches and greedy long polls against a real ``extask serve`` (issue 23,
points 2, 5 and 7), on SQLite and PostgreSQL, each with another client served meanwhile.

* A ``valueInfo`` nested 255 levels deep (every fetch of it used to answer 500 after locking the
  tasks beside it) and File metadata unfit for headers are refused with 400.
* A poison task already in the store (written past the input checks, straight into the event
  store, as data from before them would be) never blocks its topic: the tasks beside it are
  delivered, it ends in an incident saying why, and later tasks of the topic go out as usual.
* Too many topics, or a ``maxTasks`` beyond the limit, are refused with 400 naming the limit.
* With 8 long-poll slots and ``--max-parked-polls-per-client 3`` a client (an address) holds at
  most 3: of four polls it sends at once one is refused, while a poll from another address is
  served.

One server per backend for the module, with small limits (``--limit``, ``--max-parked-polls``).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import httpx
import pytest

from extask.domain.external_task import ExternalTask
from extask.infrastructure.bootstrap import build_engine
from tests.e2e.conftest import BACKENDS, HOST, serving

MAX_TASKS = 20
TOPICS = 5
PARKED = 8
PER_CLIENT = 3  # set: a quarter, the default, would be 2
OTHER_ADDRESS = "127.0.0.2"  # loopback too: a second client on this machine
BOUND = 10.0  # s: the most any answer below may take


@dataclass
class Server:
    base_url: str
    database_url: str
    http: httpx.Client

    def client_from(self, address: str, timeout: float = BOUND) -> httpx.Client:
        """A client whose connections come from ``address``: another peer to the server."""
        return httpx.Client(
            base_url=self.base_url, timeout=timeout, transport=httpx.HTTPTransport(local_address=address)
        )

    def create(self, topic: str, **fields) -> dict:
        response = self.http.post("/external-task/create", json={"topicName": topic, **fields})
        assert response.status_code == 200, response.text
        return response.json()

    def fetch(self, topic: str, worker: str = "worker", max_tasks: int = 10, http: httpx.Client | None = None):
        body = {"workerId": worker, "maxTasks": max_tasks, "topics": [{"topicName": topic, "lockDuration": 60_000}]}
        return (http or self.http).post("/external-task/fetchAndLock", json=body)


@pytest.fixture(scope="module", params=BACKENDS)
def server(request, tmp_path_factory) -> Iterator[Server]:
    with serving(
        request, tmp_path_factory,
        "--limit", f"max_tasks_per_fetch={MAX_TASKS}", "--limit", f"topics_per_fetch={TOPICS}",
        "--max-parked-polls", str(PARKED), "--max-parked-polls-per-client", str(PER_CLIENT),
        timeout=BOUND,
    ) as running:
        yield Server(running.base_url, running.database_url, running.http)


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def assert_refused(response: httpx.Response, message: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert response.json() == {"type": "InvalidRequestException", "message": message, "code": None}


class TestValueInfoCheckedOnInput:
    def test_a_value_info_nested_255_levels_deep_is_refused_and_the_topic_still_works(self, server, names):
        topic = names.topic()
        variable = {"type": "String", "value": "x", "valueInfo": nested(255)}
        response = server.http.post("/external-task/create", json={"topicName": topic, "variables": {"v": variable}})
        assert_refused(
            response,
            "valueInfo must be a flat object of strings, numbers, booleans and nulls: 'a' is an object",
        )
        with server.client_from(OTHER_ADDRESS) as other:
            created = other.post("/external-task/create", json={"topicName": topic}).json()
            assert [t["id"] for t in server.fetch(topic, http=other).json()] == [created["id"]]

    @pytest.mark.parametrize(
        "info, message",
        [
            ({"filename": "a.txt", "mimeType": "text/plain\r\nX-Injected: 1"},
             "The mime type (valueInfo 'mimeType') must be a media type such as 'text/plain' (ASCII, without "
             "control characters or line breaks), got 'text/plain\\u000d\\u000aX-Injected: 1'"),
            ({"filename": "a\r\nb.txt"},
             "The file name (valueInfo 'filename') must not hold control characters or line breaks, "
             "got 'a\\u000d\\u000ab.txt'"),
            ({"filename": "a.txt", "encoding": "no-such-charset"},
             "The encoding (valueInfo 'encoding') is not a known charset: 'no-such-charset'"),
        ],
        ids=["mimeType", "filename", "encoding"],
    )
    def test_file_metadata_unfit_for_headers_is_refused(self, server, names, info, message):
        variable = {"type": "File", "value": "aGk=", "valueInfo": info}
        response = server.http.put(f"/process-instance/{names.process_instance()}/variables/doc", json=variable)
        assert_refused(response, f"Cannot put process instance variable doc: {message}")


class TestPoisonTaskInTheStore:
    def test_the_tasks_beside_it_are_delivered_and_it_ends_in_an_incident(self, server, names):
        topic = names.topic()
        before = server.create(topic)["id"]
        poisoned = store_past_the_checks(server.database_url, topic)
        after = server.create(topic)["id"]

        response = server.fetch(topic)

        assert response.status_code == 200, response.text
        assert sorted(task["id"] for task in response.json()) == sorted([before, after])
        message = "could not be delivered: its answer cannot be written as JSON: Maximum serialization depth exceeded"
        task = server.http.get(f"/external-task/{poisoned}").json()
        assert (task["retries"], task["errorMessage"]) == (0, message)
        incidents = server.http.get("/incident", params={"configuration": poisoned}).json()
        assert [incident["incidentMessage"] for incident in incidents] == [message]
        with server.client_from(OTHER_ADDRESS) as other:  # the topic goes on as usual
            later = server.create(topic)["id"]
            assert [t["id"] for t in server.fetch(topic, "other", http=other).json()] == [later]


def store_past_the_checks(database_url: str, topic: str) -> str:
    """A task with a valueInfo 300 levels deep, written straight into the server's event store."""
    engine = build_engine(database_url)
    try:
        now = engine.service._now()
        task = ExternalTask.create(
            now=now, topic_name=topic, process_instance_id=f"pi-{topic}",
            local_variables={"doc": {"type": "String", "value": "x", "valueInfo": nested(300)}},
        )
        engine.event_store.commit([[task]])
        return str(task.id)
    finally:
        engine.close()


class TestBoundedFetches:
    def test_too_many_topics_are_refused_naming_the_limit(self, server, names):
        body = {
            "workerId": "w", "maxTasks": 1,
            "topics": [{"topicName": names.topic(f"t{i}"), "lockDuration": 1000} for i in range(TOPICS + 1)],
        }
        response = server.http.post("/external-task/fetchAndLock", json=body)
        assert_refused(response, f"Topics in one fetch: {TOPICS + 1} is more than the limit of {TOPICS} (topics_per_fetch)")
        with server.client_from(OTHER_ADDRESS) as other:
            body["topics"] = body["topics"][:TOPICS]
            assert other.post("/external-task/fetchAndLock", json=body).json() == []

    def test_a_max_tasks_beyond_the_limit_is_refused_naming_the_limit(self, server, names):
        topic = names.topic()
        created = server.create(topic)["id"]
        assert_refused(
            server.fetch(topic, max_tasks=MAX_TASKS + 1),
            f"maxTasks: {MAX_TASKS + 1} is more than the limit of {MAX_TASKS} (max_tasks_per_fetch)",
        )
        with server.client_from(OTHER_ADDRESS) as other:  # nothing was locked by the refused fetch
            assert [t["id"] for t in server.fetch(topic, max_tasks=MAX_TASKS, http=other).json()] == [created]


class TestLongPollSlots:
    def test_one_clients_polls_beyond_its_share_are_refused_while_another_clients_poll_is_served(
        self, server, names
    ):
        greedy_topic, other_topic = names.topic("greedy"), names.topic("other")

        def long_poll(http: httpx.Client, topic: str, worker: str) -> httpx.Response:
            body = {
                "workerId": worker, "maxTasks": 1, "asyncResponseTimeout": 30_000,
                "topics": [{"topicName": topic, "lockDuration": 60_000}],
            }
            return http.post("/external-task/fetchAndLock", json=body)

        with server.client_from(OTHER_ADDRESS, timeout=40) as greedy, \
                server.client_from(HOST, timeout=40) as other, ThreadPoolExecutor(PER_CLIENT + 2) as pool:
            polls = [pool.submit(long_poll, greedy, greedy_topic, f"greedy-{i}") for i in range(PER_CLIENT + 1)]
            # PER_CLIENT of them park; the last, whichever it is, is refused at once.
            first_answer = next(as_completed(polls, timeout=BOUND))
            assert_refused(
                first_answer.result(),
                "At the moment the server has to handle too many requests of this client at the same time: it "
                f"holds {PER_CLIENT} long polls, the most one client may hold (max_parked_per_client). Please try again later.",
                status=500,
            )
            served = pool.submit(long_poll, other, other_topic, "other")
            created = server.create(other_topic)["id"]
            answer = served.result(timeout=BOUND)
            assert answer.status_code == 200, answer.text
            assert [task["id"] for task in answer.json()] == [created]
            for _ in range(PER_CLIENT):  # the greedy client's parked polls are answered as usual
                server.create(greedy_topic)
            parked = [poll.result(timeout=BOUND) for poll in polls if poll is not first_answer]
            assert sorted(len(response.json()) for response in parked) == [1] * PER_CLIENT

