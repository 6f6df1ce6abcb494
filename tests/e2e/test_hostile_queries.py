"""Queries that cannot take a real ``extask serve`` down (issue 23, points 1, 5 and 7), and the
other clients served meanwhile.

A count with hundreds of variable conditions planned for minutes on PostgreSQL; 100,000 ids in
``activityIdIn`` were a 500 there (one parameter each, 65,535 at most); a LIKE pattern ending in
a backslash was a 500; and nothing stopped a heavy query, which held its connection from the
commits for as long as it ran. One server per backend for the module, with small limits: five
conditions a query, lists of up to 100,000 values, one second a query.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e.conftest import BACKENDS, RunningServer, serving

CONDITIONS = 5
VALUES = 100_000
QUERY_SECONDS = 1
TIMEOUT = 60.0
# The heavy query: one process instance with many variables and many tasks, and conditions on
# variable names in any case, so each task reads every variable of its instance. Left alone it
# runs for several seconds (3.6 s on PostgreSQL, 6 s on SQLite for half as many tasks).
HEAVY_VARIABLES = 5_000
HEAVY_TASKS = 2_000
HEAVY_QUERIES = 6  # more than the four connections for queries a PostgreSQL server has


class Limited:
    def __init__(self, running: RunningServer) -> None:
        self.base_url = running.base_url
        self.stderr_path = running.stderr_path
        self.http = running.http

    def client(self) -> httpx.Client:
        """A client of its own, as another user of the server has."""
        return httpx.Client(base_url=self.base_url, timeout=TIMEOUT)


@pytest.fixture(scope="module", params=BACKENDS)
def limited(request, tmp_path_factory) -> Iterator[Limited]:
    with serving(
        request, tmp_path_factory,
        "--limit", f"conditions_per_query={CONDITIONS}",
        "--limit", f"values_per_list={VALUES}",
        "--limit", f"query_seconds={QUERY_SECONDS}",
        timeout=TIMEOUT,
    ) as running:
        yield Limited(running)


@pytest.fixture
def suffix() -> str:
    return uuid.uuid4().hex[:12]


def assert_refused(response: httpx.Response, *words: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["type"] == "InvalidRequestException", body
    for word in words:
        assert word in body["message"], body


def conditions(count: int, name: str = "amount") -> list[dict]:
    return [{"name": name, "operator": "gteq", "value": i} for i in range(count)]


def create(http: httpx.Client, **fields) -> dict:
    response = http.post("/external-task/create", json=fields)
    assert response.status_code == 200, response.text
    return response.json()


class TestConditionsPerQuery:
    @pytest.mark.parametrize("path", ["/external-task/count", "/external-task"])
    def test_more_conditions_than_the_limit_are_refused_naming_it(self, limited, path):
        response = limited.http.post(path, json={"processVariables": conditions(CONDITIONS + 1)})
        assert_refused(response, "conditions_per_query", f"{CONDITIONS + 1} is more than the limit of {CONDITIONS}")

    def test_the_query_parameters_form_is_refused_alike(self, limited):
        triples = ",".join(f"amount_gteq_{i}" for i in range(CONDITIONS + 1))
        response = limited.http.get("/external-task/count", params={"processVariables": triples})
        assert_refused(response, "conditions_per_query")

    def test_as_many_conditions_as_the_limit_are_answered(self, limited, suffix):
        create(limited.http, topicName=f"amounts-{suffix}", variables={"amount": {"value": 10, "type": "Integer"}})
        body = {"topicName": f"amounts-{suffix}", "processVariables": conditions(CONDITIONS)}
        response = limited.http.post("/external-task/count", json=body)
        assert response.status_code == 200, response.text
        assert response.json() == {"count": 1}


class TestLongLists:
    def test_100000_activity_ids_are_answered_and_one_more_is_refused_naming_the_limit(self, limited, suffix):
        wanted = create(limited.http, topicName=f"lists-{suffix}", activityId=f"wanted-{suffix}")
        ids = [f"other-{i}" for i in range(VALUES - 1)] + [f"wanted-{suffix}"]

        counted = limited.http.post("/external-task/count", json={"activityIdIn": ids})
        assert counted.status_code == 200, counted.text
        assert counted.json() == {"count": 1}
        listed = limited.http.post("/external-task", json={"activityIdIn": ids})
        assert [task["id"] for task in listed.json()] == [wanted["id"]]

        too_many = limited.http.post("/external-task/count", json={"activityIdIn": [*ids, "one-more"]})
        assert_refused(too_many, "activityIdIn", "values_per_list")

    def test_100000_tenant_ids_in_the_history_log_are_answered(self, limited, suffix):
        create(limited.http, topicName=f"tenants-{suffix}", tenantId=f"tenant-{suffix}")
        tenants = [f"other-{i}" for i in range(VALUES - 1)] + [f"tenant-{suffix}"]
        response = limited.http.post("/history/external-task-log/count", json={"tenantIdIn": tenants})
        assert response.status_code == 200, response.text
        assert response.json() == {"count": 1}


class TestLikePatterns:
    @pytest.mark.parametrize("path", ["/incident", "/history/incident"])
    def test_a_pattern_ending_in_a_backslash_is_answered(self, limited, path):
        response = limited.http.get(path, params={"incidentMessageLike": "no such message\\"})
        assert response.status_code == 200, response.text
        assert response.json() == []


@pytest.fixture
def heavy(limited, suffix) -> dict:
    """The body of a count that runs for seconds if nothing stops it."""
    topic = f"heavy-{suffix}"
    instance = f"heavy-{suffix}"
    variables = {f"v{i}": {"value": i, "type": "Integer"} for i in range(HEAVY_VARIABLES)}
    create(limited.http, topicName=topic, processInstanceId=instance, variables=variables)
    tasks = [{"topicName": topic, "processInstanceId": instance} for _ in range(HEAVY_TASKS)]
    response = limited.http.post("/external-task/create/batch", json={"tasks": tasks})
    assert response.status_code == 200, response.text
    return {
        "topicName": topic,
        "variableNamesIgnoreCase": True,
        "processVariables": [{"name": f"V{i}", "operator": "gteq", "value": 0} for i in range(CONDITIONS)],
    }


def test_heavy_queries_are_stopped_with_a_400_while_creates_and_fetches_are_answered(limited, heavy, suffix):
    def count_heavily() -> httpx.Response:
        with limited.client() as operator:
            return operator.post("/external-task/count", json=heavy)

    topic = f"meanwhile-{suffix}"
    rounds_before_first_answer = 0
    statuses: list[int] = []
    with ThreadPoolExecutor(HEAVY_QUERIES) as pool, limited.client() as worker:
        heavy_counts = [pool.submit(count_heavily) for _ in range(HEAVY_QUERIES)]
        while not all(count.done() for count in heavy_counts):
            created = worker.post("/external-task/create", json={"topicName": topic})
            fetched = worker.post(
                "/external-task/fetchAndLock",
                json={"workerId": "w", "maxTasks": 1, "topics": [{"topicName": topic, "lockDuration": 60_000}]},
            )
            statuses += [created.status_code, fetched.status_code]
            assert [task["id"] for task in fetched.json()] == [created.json()["id"]]
            if not any(count.done() for count in heavy_counts):
                rounds_before_first_answer += 1

    for count in heavy_counts:
        assert_refused(count.result(), "query_seconds", f"{QUERY_SECONDS} s")
    assert set(statuses) == {200}
    assert rounds_before_first_answer >= 1  # served while the heavy queries ran
