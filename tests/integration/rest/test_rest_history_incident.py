"""``GET /history/incident`` and ``/count``: every incident a task had, open, resolved or deleted,
with Camunda's HistoricIncidentDto fields; and how runtime incidents end (``DELETE /incident/{id}``
is refused for this incident type)."""

from __future__ import annotations

import pytest
from rest_support import assert_error

HISTORIC_INCIDENT_FIELDS = {
    "id", "processDefinitionKey", "processDefinitionId", "processInstanceId", "executionId",
    "rootProcessInstanceId", "createTime", "endTime", "removalTime", "incidentType", "activityId",
    "failedActivityId", "causeIncidentId", "rootCauseIncidentId", "configuration", "historyConfiguration",
    "incidentMessage", "tenantId", "jobDefinitionId", "open", "deleted", "resolved", "annotation",
}
SORT_KEYS = (
    "incidentId", "incidentMessage", "createTime", "endTime", "incidentType", "executionId", "activityId",
    "processInstanceId", "processDefinitionId", "processDefinitionKey", "causeIncidentId",
    "rootCauseIncidentId", "configuration", "historyConfiguration", "tenantId", "incidentState",
)


def fail(api, task, worker="w", message="boom"):
    response = api.post(
        f"/external-task/{task['id']}/failure", json={"workerId": worker, "errorMessage": message, "retries": 0}
    )
    assert response.status_code == 204, response.text


def historic(api, **params):
    response = api.get("/history/incident", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


@pytest.fixture
def failed_task(api):
    task = api.locked_task(
        "w", "charge", processInstanceId="pi-1", processDefinitionId="invoice:1:1",
        processDefinitionKey="invoice", activityId="chargeCard", tenantId="t1",
    )
    fail(api, task)
    return task


@pytest.fixture
def three_states(api, clock, failed_task):
    """Incidents in three states: resolved (pi-1), deleted (pi-2), open (pi-3, 10 s later)."""
    assert api.put(f"/external-task/{failed_task['id']}/retries", json={"retries": 1}).status_code == 204
    gone = api.locked_task("w", "mail", processInstanceId="pi-2")
    fail(api, gone)
    assert api.delete("/process-instance/pi-2").status_code == 204
    clock.advance(10_000)
    open_one = api.locked_task("w", "mail", processInstanceId="pi-3", activityId="send")
    fail(api, open_one, message="smtp down")
    return {"resolved": failed_task, "deleted": gone, "open": open_one}


class TestHistoricIncident:
    def test_every_field_of_an_open_incident(self, api, failed_task):
        [runtime] = api.get("/incident").json()
        [failure] = api.history(failureLog="true")

        [incident] = historic(api)

        assert set(incident) == HISTORIC_INCIDENT_FIELDS
        assert incident == {
            "id": runtime["id"], "processDefinitionKey": "invoice", "processDefinitionId": "invoice:1:1",
            "processInstanceId": "pi-1", "executionId": failed_task["executionId"], "rootProcessInstanceId": "pi-1",
            "createTime": runtime["incidentTimestamp"], "endTime": None, "removalTime": None,
            "incidentType": "failedExternalTask", "activityId": "chargeCard", "failedActivityId": None,
            "causeIncidentId": runtime["id"], "rootCauseIncidentId": runtime["id"],
            "configuration": failed_task["id"], "historyConfiguration": failure["id"], "incidentMessage": "boom",
            "tenantId": "t1", "jobDefinitionId": None, "open": True, "deleted": False, "resolved": False,
            "annotation": None,
        }

    def test_resolved_by_setting_retries(self, api, clock, failed_task):
        clock.advance(2000)
        api.put(f"/external-task/{failed_task['id']}/retries", json={"retries": 1})

        [incident] = historic(api)

        assert (incident["open"], incident["resolved"], incident["deleted"]) == (False, True, False)
        assert incident["endTime"] == "2025-01-02T03:04:07.000+0000"

    def test_resolved_by_completing_the_task(self, api, failed_task):
        api.post(f"/external-task/{failed_task['id']}/complete", json={"workerId": "w"})
        assert [i["resolved"] for i in historic(api)] == [True]

    def test_deleted_by_a_bpmn_error(self, api, failed_task):
        api.post(f"/external-task/{failed_task['id']}/bpmnError", json={"workerId": "w", "errorCode": "E"})
        assert [i["deleted"] for i in historic(api)] == [True]

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({}, {"resolved", "deleted", "open"}),
            ({"open": "true"}, {"open"}),
            ({"resolved": "true"}, {"resolved"}),
            ({"deleted": "true"}, {"deleted"}),
            ({"open": "true", "deleted": "true"}, {"deleted"}),  # the last state set wins
            ({"resolved": "false"}, {"resolved", "deleted", "open"}),  # only true filters
            ({"incidentType": "failedExternalTask"}, {"resolved", "deleted", "open"}),
            ({"incidentType": "failedJob"}, set()),
            ({"incidentMessage": "smtp down"}, {"open"}),
            ({"incidentMessageLike": "smtp%"}, {"open"}),
            ({"processDefinitionId": "invoice:1:1"}, {"resolved"}),
            ({"processDefinitionKey": "invoice"}, {"resolved"}),
            ({"processDefinitionKeyIn": "invoice,other"}, {"resolved"}),
            ({"processInstanceId": "pi-2"}, {"deleted"}),
            ({"activityId": "send"}, {"open"}),
            ({"tenantIdIn": "t1"}, {"resolved"}),
            ({"withoutTenantId": "true"}, {"deleted", "open"}),
            ({"failedActivityId": "chargeCard"}, set()),
            ({"jobDefinitionIdIn": "j1"}, set()),
            ({"createTimeAfter": "2025-01-02T03:04:10.000+0000"}, {"open"}),
            ({"createTimeBefore": "2025-01-02T03:04:10.000+0000"}, {"resolved", "deleted"}),
            ({"endTimeAfter": "2025-01-02T03:04:05.000+0000"}, {"resolved", "deleted"}),
            ({"endTimeBefore": "2025-01-02T03:04:04.000+0000"}, set()),
        ],
    )
    def test_filters_and_count(self, api, three_states, params, expected):
        names = {task["id"]: name for name, task in three_states.items()}
        found = historic(api, **params)
        assert {names[i["configuration"]] for i in found} == expected
        assert api.get("/history/incident/count", params=params).json() == {"count": len(expected)}

    def test_by_ids(self, api, three_states):
        [incident] = historic(api, configuration=three_states["open"]["id"])
        for params in (
            {"incidentId": incident["id"]}, {"causeIncidentId": incident["id"]},
            {"rootCauseIncidentId": incident["id"]}, {"executionId": incident["executionId"]},
            {"historyConfiguration": incident["historyConfiguration"]},
        ):
            assert historic(api, **params) == [incident], params

    @pytest.mark.parametrize("key", SORT_KEYS)
    @pytest.mark.parametrize("order", ["asc", "desc"])
    def test_every_sort_key(self, api, three_states, key, order):
        assert len(historic(api, sortBy=key, sortOrder=order)) == 3

    def test_sorted_by_state(self, api, three_states):
        states = [
            next(s for s in ("open", "resolved", "deleted") if i[s])
            for i in historic(api, sortBy="incidentState", sortOrder="desc")
        ]
        assert states == ["deleted", "resolved", "open"]

    def test_sorted_by_create_time_and_paged(self, api, three_states):
        found = historic(api, sortBy="createTime", sortOrder="desc", firstResult=0, maxResults=1)
        assert [i["configuration"] for i in found] == [three_states["open"]["id"]]

    def test_an_invalid_sort_key(self, api):
        assert_error(
            api.get("/history/incident", params={"sortBy": "incidentTimestamp", "sortOrder": "asc"}), 400,
            "InvalidRequestException", "Cannot set query parameter 'sortBy' to value 'incidentTimestamp'",
        )

    @pytest.mark.parametrize("path", ["/history/incident", "/history/incident/count"])
    def test_half_a_sort_pair(self, api, path):
        assert_error(
            api.get(path, params={"sortOrder": "asc"}), 400, "InvalidRequestException",
            "Only a single sorting parameter specified. sortBy and sortOrder required",
        )

    def test_an_invalid_date(self, api):
        assert_error(
            api.get("/history/incident/count", params={"endTimeAfter": "soon"}), 400, "InvalidRequestException",
            "Cannot set query parameter 'endTimeAfter' to value 'soon': "
            'Cannot convert value "soon" to java type java.util.Date',
        )


class TestIncidentsEndWithTheirTask:
    """Over SQLite and PostgreSQL: what the runtime and historic incident resources show as a task ends."""

    def test_deleting_the_process_instance(self, lifecycle_api):
        api = lifecycle_api
        task = api.locked_task("w", processInstanceId="pi-1")
        fail(api, task)

        assert api.delete("/process-instance/pi-1").status_code == 204

        assert api.get("/incident").json() == []
        [incident] = historic(api)
        assert (incident["open"], incident["resolved"], incident["deleted"]) == (False, False, True)
        assert incident["endTime"] is not None
        assert len(api.history(externalTaskId=task["id"], deletionLog="true")) == 1

    def test_setting_retries(self, lifecycle_api):
        api = lifecycle_api
        task = api.locked_task("w", processInstanceId="pi-1")
        fail(api, task)

        api.put(f"/external-task/{task['id']}/retries", json={"retries": 2})

        assert api.get("/incident").json() == []
        assert [i["resolved"] for i in historic(api, resolved="true")] == [True]


class TestManualResolution:
    def test_is_refused_for_an_external_task_incident(self, api, failed_task):
        [incident] = api.get("/incident").json()
        assert_error(
            api.delete(f"/incident/{incident['id']}"), 400, "InvalidRequestException",
            "Cannot resolve an incident of type failedExternalTask",
        )
        assert [i["open"] for i in historic(api)] == [True]

    def test_an_unknown_incident(self, api):
        assert_error(
            api.delete("/incident/nope"), 404, "InvalidRequestException",
            "Cannot find an incident with id 'nope': incident is null",
        )

    def test_a_resolved_incident_is_no_longer_known(self, api, failed_task):
        [incident] = api.get("/incident").json()
        api.put(f"/external-task/{failed_task['id']}/retries", json={"retries": 1})
        assert api.delete(f"/incident/{incident['id']}").status_code == 404
