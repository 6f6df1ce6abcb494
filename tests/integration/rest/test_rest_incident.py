"""``/incident``: the incident a task gets when it runs out of retries."""

from __future__ import annotations

import pytest
from rest_support import assert_error

INCIDENT_FIELDS = {
    "id", "processDefinitionId", "processInstanceId", "executionId", "incidentTimestamp", "incidentType",
    "activityId", "failedActivityId", "causeIncidentId", "rootCauseIncidentId", "configuration",
    "incidentMessage", "tenantId", "jobDefinitionId", "annotation",
}


@pytest.fixture
def failed_task(api):
    task = api.locked_task("w", processInstanceId="pi-1", processDefinitionId="invoice:1", activityId="charge")
    api.post(f"/external-task/{task['id']}/failure", json={"workerId": "w", "errorMessage": "boom", "retries": 0})
    return task


class TestIncidents:
    def test_a_task_out_of_retries_has_one(self, api, failed_task):
        [incident] = api.get("/incident").json()
        assert set(incident) == INCIDENT_FIELDS
        assert incident == {
            **incident,
            "incidentType": "failedExternalTask",
            "configuration": failed_task["id"],
            "incidentMessage": "boom",
            "processInstanceId": "pi-1",
            "processDefinitionId": "invoice:1",
            "activityId": "charge",
            "incidentTimestamp": "2025-01-02T03:04:05.000+0000",
            "causeIncidentId": incident["id"],
            "rootCauseIncidentId": incident["id"],
            "jobDefinitionId": None,
            "failedActivityId": None,
        }

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"incidentType": "failedExternalTask"}, 1),
            ({"incidentType": "failedJob"}, 0),
            ({"processInstanceId": "pi-1"}, 1),
            ({"processInstanceId": "pi-2"}, 0),
            ({"incidentMessage": "boom"}, 1),
            ({"incidentTimestampAfter": "2025-01-02T03:04:04.000+0000"}, 1),
            ({"incidentTimestampBefore": "2025-01-02T03:04:04.000+0000"}, 0),
        ],
    )
    def test_filters_and_count(self, api, failed_task, params, expected):
        assert len(api.get("/incident", params=params).json()) == expected
        assert api.get("/incident/count", params=params).json() == {"count": expected}

    def test_by_configuration_the_task_id(self, api, failed_task):
        assert len(api.get("/incident", params={"configuration": failed_task["id"]}).json()) == 1

    def test_by_id(self, api, failed_task):
        [incident] = api.get("/incident").json()
        assert api.get(f"/incident/{incident['id']}").json() == incident

    def test_an_unknown_id(self, api):
        assert_error(api.get("/incident/nope"), 404, "InvalidRequestException", "No matching incident with id nope")

    def test_is_resolved_by_setting_retries(self, api, failed_task):
        response = api.put(f"/external-task/{failed_task['id']}/retries", json={"retries": 1})
        assert response.status_code == 204
        assert api.get("/incident").json() == []

    def test_cannot_be_resolved_by_hand(self, api, failed_task):
        [incident] = api.get("/incident").json()
        assert_error(
            api.delete(f"/incident/{incident['id']}"), 400, "InvalidRequestException",
            "Cannot resolve an incident of type failedExternalTask",
        )
        assert len(api.get("/incident").json()) == 1

    def test_an_invalid_date(self, api):
        assert_error(
            api.get("/incident", params={"incidentTimestampBefore": "yesterday"}), 400, "InvalidRequestException",
            "Cannot set query parameter 'incidentTimestampBefore' to value 'yesterday': "
            'Cannot convert value "yesterday" to java type java.util.Date',
        )

    def test_an_invalid_sort_key(self, api):
        assert_error(
            api.get("/incident", params={"sortBy": "color", "sortOrder": "asc"}), 400, "InvalidRequestException",
            "Cannot set query parameter 'sortBy' to value 'color'",
        )

    @pytest.mark.parametrize("path", ["/incident", "/incident/count"])
    @pytest.mark.parametrize("params", [{"sortBy": "incidentTimestamp"}, {"sortOrder": "desc"}])
    def test_half_a_sort_pair(self, api, path, params):
        assert_error(
            api.get(path, params=params), 400, "InvalidRequestException",
            "Only a single sorting parameter specified. sortBy and sortOrder required",
        )

    def test_a_count_with_a_whole_sort_pair_counts(self, api, failed_task):
        params = {"sortBy": "incidentTimestamp", "sortOrder": "desc"}
        assert api.get("/incident/count", params=params).json() == {"count": 1}

    def test_sorted_by_timestamp(self, api, failed_task, clock):
        clock.advance(1000)
        other = api.locked_task("w2", "mail")
        api.post(f"/external-task/{other['id']}/failure", json={"workerId": "w2", "retries": 0})
        incidents = api.get("/incident", params={"sortBy": "incidentTimestamp", "sortOrder": "desc"}).json()
        assert [i["configuration"] for i in incidents] == [other["id"], failed_task["id"]]
