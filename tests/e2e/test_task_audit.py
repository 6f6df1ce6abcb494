"""An auditor against a real server: a task driven through its life over HTTP, then its timeline
and its past states over REST, and its timeline from ``extask history`` on the server's database."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Names, RunningServer, run_extask

LIFE = [
    "Created", "Locked", "Failed", "IncidentCreated", "RetriesSet", "IncidentResolved", "Locked", "Completed",
]


def _post(server: RunningServer, path: str, body: dict) -> None:
    response = server.http.post(path, json=body)
    assert response.status_code in (200, 204), response.text


@pytest.fixture
def completed_task(server: RunningServer, names: Names) -> dict:
    """Created, fetched, failed to an incident, retried, fetched again and completed, all over HTTP."""
    worker, topic = names.worker(), names.topic()
    task = server.create_task(topic, names.process_instance(), variables={"amount": {"value": 12.5, "type": "Double"}})
    fetch = {"workerId": worker, "maxTasks": 1, "topics": [{"topicName": topic, "lockDuration": 60_000}]}
    _post(server, "/external-task/fetchAndLock", fetch)
    _post(server, f"/external-task/{task['id']}/failure", {
        "workerId": worker, "errorMessage": "payment gateway down", "errorDetails": "Traceback ...",
        "retries": 0, "retryTimeout": 0,
    })
    response = server.http.put(f"/external-task/{task['id']}/retries", json={"retries": 2})
    assert response.status_code == 204, response.text
    _post(server, "/external-task/fetchAndLock", fetch)
    _post(server, f"/external-task/{task['id']}/complete", {
        "workerId": worker, "variables": {"invoiceNumber": {"value": "INV-1", "type": "String"}},
    })
    return task


def _events(server: RunningServer, task_id: str) -> list[dict]:
    response = server.http.get(f"/history/external-task/{task_id}/events")
    assert response.status_code == 200, response.text
    return response.json()


def _state(server: RunningServer, task_id: str, at: str):
    return server.http.get(f"/history/external-task/{task_id}/state", params={"at": at})


def _visible(timeline: list[dict], at: str) -> list[dict]:
    # Camunda dates in UTC sort as text.
    return [event for event in timeline if event["timestamp"] <= at]


class TestOverRest:
    def test_the_events_are_the_tasks_whole_life(self, server, completed_task, names):
        timeline = _events(server, completed_task["id"])

        assert [event["type"] for event in timeline] == LIFE
        assert [event["aggregateVersion"] for event in timeline] == list(range(1, len(LIFE) + 1))
        assert timeline[0]["data"]["topicName"] == names.topic()
        assert timeline[2]["data"]["errorMessage"] == "payment gateway down"
        assert timeline[-1]["data"]["workerId"] == names.worker()
        assert [event["timestamp"] for event in timeline] == sorted(event["timestamp"] for event in timeline)

    def test_the_state_at_the_failure_shows_the_incident_retries(self, server, completed_task, names):
        timeline = _events(server, completed_task["id"])
        failed_at = timeline[2]["timestamp"]

        response = _state(server, completed_task["id"], failed_at)

        assert response.status_code == 200, response.text
        state = response.json()
        assert set(state) == set(completed_task)
        assert (state["id"], state["topicName"], state["createTime"]) == (
            completed_task["id"], names.topic(), completed_task["createTime"],
        )
        # Any later event in the same millisecond counts too: take the retries they leave.
        retries = [e["data"]["retries"] for e in _visible(timeline, failed_at) if "retries" in e["data"]][-1]
        assert (state["retries"], state["errorMessage"], state["workerId"]) == (
            retries, "payment gateway down", names.worker(),
        )

    def test_before_creation_and_after_completion_there_was_no_task(self, server, completed_task):
        timeline = _events(server, completed_task["id"])
        completed_at = timeline[-1]["timestamp"]

        before = _state(server, completed_task["id"], "2000-01-01T00:00:00.000+0000")
        after = _state(server, completed_task["id"], completed_at)

        assert before.status_code == 404, before.text
        assert "did not exist yet" in before.json()["message"]
        assert after.status_code == 404, after.text
        assert after.json() == {
            "type": "RestException",
            "message": f"External task with id {completed_task['id']} did not exist at {completed_at}: "
            f"it was completed at {completed_at}",
            "code": None,
        }

    def test_a_bad_moment_is_400(self, server, completed_task):
        response = _state(server, completed_task["id"], "not a date")
        assert response.status_code == 400
        assert response.json()["type"] == "InvalidRequestException"


class TestFromTheCommandLine:
    def test_json_lines_are_the_rest_events(self, server, completed_task):
        run = run_extask("history", completed_task["id"], "--database-url", server.database_url, "--json")

        assert run.returncode == 0, run.stderr
        assert [json.loads(line) for line in run.stdout.splitlines()] == _events(server, completed_task["id"])

    def test_text_is_one_readable_line_per_event(self, server, completed_task, names):
        timeline = _events(server, completed_task["id"])

        run = run_extask("history", completed_task["id"], "--database-url", server.database_url)

        assert run.returncode == 0, run.stderr
        lines = run.stdout.splitlines()
        assert [line.split()[:3] for line in lines] == [
            [event["timestamp"], f"#{event['aggregateVersion']}", event["type"]] for event in timeline
        ]
        failed = lines[2]
        assert f"workerId={names.worker()}" in failed
        assert "retries=0" in failed
        assert f"lockExpirationTime={timeline[2]['data']['lockExpirationTime']}" in failed
        assert 'errorMessage="payment gateway down"' in failed
        assert f"topicName={names.topic()}" in lines[0]

    def test_an_unknown_task_is_an_error(self, server):
        run = run_extask("history", "no-such-task", "--database-url", server.database_url)

        assert run.returncode == 1
        assert run.stdout == ""
        assert "External task with id no-such-task does not exist" in run.stderr
