"""``/history/external-task/{id}/events`` and ``/state?at=``: a task's audit trail over REST.

Events are ``{type, aggregateVersion, schemaVersion, timestamp, data}`` with the event's own fields
in camelCase, dates in Camunda's format and variables as stored. The state at a moment has the
shape of ``GET /external-task/{id}``, and is 404 before the task existed and after it ended.
"""

from __future__ import annotations

import pytest
from rest_support import BASE_URL, TestClient, assert_error, assert_no_content

from extask.infrastructure.rest.app import create_app

EVENT_FIELDS = {"type", "aggregateVersion", "schemaVersion", "timestamp", "data"}
T0 = "2025-01-02T03:04:05.000+0000"  # the FixedClock's first moment
T1 = "2025-01-02T03:04:06.000+0000"
T2 = "2025-01-02T03:04:07.000+0000"


def events(api, task_id):
    response = api.get(f"/history/external-task/{task_id}/events")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def state_at(api, task_id, at):
    return api.get(f"/history/external-task/{task_id}/state", params={"at": at})


@pytest.fixture
def failed_then_completed(api, clock):
    """Created at T0 with variables, locked at T0, failed to an incident at T1, retried and
    completed at T2."""
    task = api.locked_task(
        "w", processInstanceId="pi-a", localVariables={"order_total": {"value": 12.5, "type": "Double"}}
    )
    clock.advance(1000)
    assert_no_content(api.post(
        f"/external-task/{task['id']}/failure",
        json={"workerId": "w", "errorMessage": "gateway down", "errorDetails": "trace", "retries": 0},
    ))
    clock.advance(1000)
    assert_no_content(api.put(f"/external-task/{task['id']}/retries", json={"retries": 1}))
    api.fetch("w")
    assert_no_content(api.post(f"/external-task/{task['id']}/complete", json={"workerId": "w"}))
    return task


class TestEvents:
    def test_a_whole_life_in_order(self, api, failed_then_completed):
        timeline = events(api, failed_then_completed["id"])

        assert all(set(event) == EVENT_FIELDS for event in timeline)
        assert [(e["type"], e["aggregateVersion"], e["timestamp"]) for e in timeline] == [
            ("Created", 1, T0), ("Locked", 2, T0), ("Failed", 3, T1), ("IncidentCreated", 4, T1),
            ("RetriesSet", 5, T2), ("IncidentResolved", 6, T2), ("Locked", 7, T2), ("Completed", 8, T2),
        ]
        assert all(isinstance(e["schemaVersion"], int) and e["schemaVersion"] >= 1 for e in timeline)

    def test_fields_are_camel_case_and_dates_are_camunda_dates(self, api, failed_then_completed):
        created, locked, failed, incident, *_ = events(api, failed_then_completed["id"])

        assert locked["data"] == {"workerId": "w", "lockExpirationTime": "2025-01-02T03:05:05.000+0000"}
        assert {
            name: failed["data"][name] for name in ("workerId", "errorMessage", "errorDetails", "retries", "retryTimeout")
        } == {"workerId": "w", "errorMessage": "gateway down", "errorDetails": "trace", "retries": 0, "retryTimeout": 0}
        assert failed["data"]["lockExpirationTime"] == T1
        assert set(incident["data"]) == {"incidentId", "incidentMessage"}
        assert {"topicName", "processInstanceId", "activityInstanceId", "localVariables"} <= set(created["data"])

    def test_variables_are_passed_through_as_stored(self, api, failed_then_completed):
        """Variable names are data: they keep their spelling."""
        created = events(api, failed_then_completed["id"])[0]
        assert created["data"]["localVariables"] == {"order_total": {"type": "Double", "value": 12.5, "valueInfo": {}}}

    def test_the_library_envelope_is_not_data(self, api, failed_then_completed):
        for event in events(api, failed_then_completed["id"]):
            assert not {"originatorId", "originatorVersion", "originatorTopic", "timestamp"} & set(event["data"])

    def test_an_ended_task_keeps_its_timeline(self, api, failed_then_completed):
        assert_error(api.get(f"/external-task/{failed_then_completed['id']}"), 404, "RestException")
        assert len(events(api, failed_then_completed["id"])) == 8

    def test_a_bpmn_error(self, api):
        task = api.locked_task("w")
        api.post(f"/external-task/{task['id']}/bpmnError", json={"workerId": "w", "errorCode": "ERR-42"})

        last = events(api, task["id"])[-1]

        assert last["type"] == "BpmnErrorThrown"
        assert last["data"]["errorCode"] == "ERR-42"

    def test_a_deleted_task(self, api):
        task = api.create_task(processInstanceId="pi-d")
        assert_no_content(api.delete("/process-instance/pi-d"))

        assert [e["type"] for e in events(api, task["id"])] == ["Created", "Deleted"]

    @pytest.mark.parametrize("task_id", ["6e0a4b36-1f0c-4c1e-9a51-0d4f0cfe2f11", "not-a-task"])
    def test_an_unknown_task_is_404(self, api, task_id):
        assert_error(
            api.get(f"/history/external-task/{task_id}/events"), 404, "RestException",
            f"External task with id {task_id} does not exist", None,
        )


class TestStateAt:
    def test_at_an_events_timestamp_it_includes_that_event(self, api, clock):
        task = api.create_task()
        clock.advance(1000)
        api.fetch("w")
        locked_at = events(api, task["id"])[-1]["timestamp"]

        before = state_at(api, task["id"], "2025-01-02T03:04:05.999+0000")
        at = state_at(api, task["id"], locked_at)

        assert (before.status_code, before.json()) == (200, task)
        assert at.status_code == 200
        assert at.json() == api.task(task["id"])
        assert (at.json()["workerId"], at.json()["lockExpirationTime"]) == ("w", "2025-01-02T03:05:06.000+0000")

    def test_failed_to_an_incident(self, api, failed_then_completed):
        response = state_at(api, failed_then_completed["id"], T1)

        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        state = response.json()
        assert set(state) == set(failed_then_completed)
        assert (state["retries"], state["errorMessage"], state["workerId"], state["lockExpirationTime"]) == (
            0, "gateway down", "w", T1,
        )

    @pytest.mark.parametrize("at", ["2025-01-02T03:04:06+00:00", "2025-01-02T03:04:06Z", "2025-01-02T04:04:06.000+0100"])
    def test_dates_are_read_as_everywhere_else(self, api, failed_then_completed, at):
        assert state_at(api, failed_then_completed["id"], at).json()["retries"] == 0

    def test_before_it_was_created_is_404(self, api):
        task = api.create_task()
        assert_error(
            state_at(api, task["id"], "2025-01-02T03:04:04.999+0000"), 404, "RestException",
            f"External task with id {task['id']} did not exist yet at 2025-01-02T03:04:04.999+0000: "
            f"it was created at {T0}",
            None,
        )

    def test_after_it_was_completed_is_404(self, api, failed_then_completed):
        assert_error(
            state_at(api, failed_then_completed["id"], "2025-01-02T03:04:08.000+0000"), 404, "RestException",
            f"External task with id {failed_then_completed['id']} did not exist at 2025-01-02T03:04:08.000+0000: "
            f"it was completed at {T2}",
            None,
        )

    def test_after_a_bpmn_error_is_404(self, api):
        task = api.locked_task("w")
        api.post(f"/external-task/{task['id']}/bpmnError", json={"workerId": "w", "errorCode": "ERR-42"})
        assert_error(
            state_at(api, task["id"], T0), 404, "RestException",
            f"External task with id {task['id']} did not exist at {T0}: it ended with BPMN error ERR-42 at {T0}",
            None,
        )

    def test_after_it_was_deleted_is_404(self, api):
        task = api.create_task(processInstanceId="pi-d")
        api.delete("/process-instance/pi-d")
        assert_error(
            state_at(api, task["id"], T0), 404, "RestException",
            f"External task with id {task['id']} did not exist at {T0}: it was deleted at {T0}",
            None,
        )

    def test_an_unknown_task_is_404(self, api):
        assert_error(
            state_at(api, "nothing", T0), 404, "RestException", "External task with id nothing does not exist", None
        )

    def test_without_at_is_400(self, api):
        task = api.create_task()
        assert_error(
            api.get(f"/history/external-task/{task['id']}/state"), 400, "InvalidRequestException",
            "Query parameter 'at' is required", None,
        )

    @pytest.mark.parametrize("at", ["yesterday", "", "2025-13-02T03:04:05.000+0000", "1735787045000"])
    def test_an_unreadable_at_is_400(self, api, at):
        task = api.create_task()
        assert_error(
            state_at(api, task["id"], at), 400, "InvalidRequestException",
            f"Cannot set query parameter 'at' to value '{at}': Cannot convert value \"{at}\" to java type java.util.Date",
            None,
        )


def test_a_server_without_an_audit_trail_answers_404(rest_engine):
    with TestClient(create_app(rest_engine.service), base_url=BASE_URL) as client:
        task = client.post("/external-task/create", json={"topicName": "t"}).json()
        assert_error(
            client.get(f"/history/external-task/{task['id']}/events"), 404, "InvalidRequestException",
            "This server keeps no audit trail", None,
        )
