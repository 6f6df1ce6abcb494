"""``/history/external-task-log``: one entry per creation, failure, success and deletion."""

from __future__ import annotations

import pytest
from rest_support import assert_error, assert_no_content

LOG_FIELDS = {
    "id", "timestamp", "removalTime", "externalTaskId", "topicName", "workerId", "priority", "retries",
    "errorMessage", "activityId", "activityInstanceId", "executionId", "processInstanceId",
    "processDefinitionId", "processDefinitionKey", "tenantId", "rootProcessInstanceId", "creationLog",
    "failureLog", "successLog", "deletionLog",
}


@pytest.fixture
def failed_then_completed(api, clock):
    """Task A: created, failed once (details), completed. Task B (topic mail): created only."""
    a = api.locked_task("w", processInstanceId="pi-a", priority=5)
    clock.advance(1000)
    api.post(
        f"/external-task/{a['id']}/failure",
        json={"workerId": "w", "errorMessage": "boom", "errorDetails": "trace", "retries": 1},
    )
    clock.advance(1000)
    api.post(f"/external-task/{a['id']}/complete", json={"workerId": "w"})
    b = api.create_task("mail", processInstanceId="pi-b", priority=1, activityId="send")
    return a, b


def kinds(logs):
    return [next(k for k in ("creationLog", "failureLog", "successLog", "deletionLog") if log[k]) for log in logs]


class TestQuery:
    def test_every_entry_has_every_field(self, api, failed_then_completed):
        logs = api.history()
        assert len(logs) == 4
        assert all(set(log) == LOG_FIELDS for log in logs)

    def test_a_tasks_life_in_order(self, api, failed_then_completed):
        a, _ = failed_then_completed
        logs = api.history(externalTaskId=a["id"])
        assert kinds(logs) == ["creationLog", "failureLog", "successLog"]
        assert [log["timestamp"] for log in logs] == [
            "2025-01-02T03:04:05.000+0000", "2025-01-02T03:04:06.000+0000", "2025-01-02T03:04:07.000+0000",
        ]
        failure = logs[1]
        assert failure["errorMessage"] == "boom"
        assert failure["workerId"] == "w"
        assert failure["processInstanceId"] == "pi-a"

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"topicName": "mail"}, 1),
            ({"workerId": "w"}, 2),
            ({"processInstanceId": "pi-a"}, 3),
            ({"failureLog": "true"}, 1),
            ({"creationLog": "TRUE"}, 2),
            ({"successLog": "true", "processInstanceId": "pi-b"}, 0),
            ({"creationLog": "false"}, 4),  # only true filters
            ({"failureLog": "yes"}, 4),  # anything but "true" is false, as Boolean.valueOf
            ({"priorityHigherThanOrEquals": "5"}, 3),
            ({"priorityLowerThanOrEquals": "1"}, 1),
            ({"errorMessage": "boom"}, 1),
            ({"activityIdIn": "none,send"}, 1),
            ({"activityIdIn": ""}, 4),  # an empty list is skipped, as in Camunda
        ],
    )
    def test_filters_and_count(self, api, failed_then_completed, params, expected):
        assert len(api.history(**params)) == expected
        assert api.get("/history/external-task-log/count", params=params).json() == {"count": expected}

    def test_sorting_and_paging(self, api, failed_then_completed):
        logs = api.history(sortBy="timestamp", sortOrder="desc")
        assert [log["timestamp"] for log in logs] == sorted((log["timestamp"] for log in logs), reverse=True)
        page = api.history(sortBy="timestamp", sortOrder="desc", firstResult=1, maxResults=2)
        assert [log["id"] for log in page] == [log["id"] for log in logs[1:3]]

    def test_an_invalid_sort_key(self, api):
        assert_error(
            api.get("/history/external-task-log", params={"sortBy": "color", "sortOrder": "asc"}),
            400, "InvalidRequestException", "Cannot set query parameter 'sortBy' to value 'color'",
        )

    def test_an_invalid_sort_order(self, api):
        assert_error(
            api.get("/history/external-task-log", params={"sortBy": "timestamp", "sortOrder": "up"}),
            400, "InvalidRequestException", "Cannot set query parameter 'sortOrder' to value 'up'",
        )

    @pytest.mark.parametrize("params", [{"sortBy": "timestamp"}, {"sortOrder": "asc"}])
    @pytest.mark.parametrize("path", ["/history/external-task-log", "/history/external-task-log/count"])
    def test_half_a_sort_pair(self, api, params, path):
        assert_error(
            api.get(path, params=params), 400, "InvalidRequestException",
            "Only a single sorting parameter specified. sortBy and sortOrder required",
        )

    def test_a_count_with_a_whole_sort_pair_counts(self, api, failed_then_completed):
        every = api.get("/history/external-task-log").json()
        params = {"sortBy": "timestamp", "sortOrder": "desc"}
        assert api.get("/history/external-task-log/count", params=params).json() == {"count": len(every)}
        assert len(every) >= 3

    def test_a_priority_that_is_not_a_number(self, api):
        assert_error(
            api.get("/history/external-task-log", params={"priorityHigherThanOrEquals": "high"}),
            400, "InvalidRequestException",
            "Cannot set query parameter 'priorityHigherThanOrEquals' to value 'high': "
            "Cannot convert value high to java type java.lang.Long",
        )

    @pytest.mark.parametrize("value", ["x", "-1"])
    def test_a_page_bound_that_is_not_a_count(self, api, value):
        response = api.get("/history/external-task-log", params={"firstResult": value})
        assert_error(response, 400, "InvalidRequestException")
        assert response.json()["message"].startswith(f"Cannot set query parameter 'firstResult' to value '{value}'")


class TestSingleEntry:
    def test_by_id(self, api, failed_then_completed):
        first = api.history()[0]
        response = api.get(f"/history/external-task-log/{first['id']}")
        assert response.status_code == 200
        assert response.json() == first

    def test_an_unknown_id(self, api):
        assert_error(
            api.get("/history/external-task-log/nope"), 404, "InvalidRequestException",
            "Historic external task log with id nope does not exist",
        )

    def test_error_details_of_a_failure_entry(self, api, failed_then_completed):
        [failure] = api.history(failureLog="true")
        response = api.get(f"/history/external-task-log/{failure['id']}/error-details")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain"
        assert response.text == "trace"

    def test_no_error_details_is_204(self, api, failed_then_completed):
        creation = api.history(creationLog="true")[0]
        assert_no_content(api.get(f"/history/external-task-log/{creation['id']}/error-details"))

    def test_error_details_of_an_unknown_id(self, api):
        assert_error(
            api.get("/history/external-task-log/nope/error-details"), 404, "InvalidRequestException",
            "No historic external task log found with id nope: historicExternalTaskLog is null",
        )
