"""``POST /external-task/fetchAndLock``: what workers get, and Camunda's validation answers."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from rest_support import assert_error

LOCKED_TASK_FIELDS = {
    "activityId", "activityInstanceId", "errorMessage", "errorDetails", "executionId", "id",
    "lockExpirationTime", "createTime", "processDefinitionId", "processDefinitionKey",
    "processDefinitionVersionTag", "processInstanceId", "retries", "suspended", "workerId",
    "topicName", "tenantId", "variables", "priority", "businessKey", "extensionProperties",
}


def fetch(api, **body):
    return api.post("/external-task/fetchAndLock", json={"workerId": "w", "maxTasks": 10, **body})


def topic(name="invoice", **fields):
    return {"topicName": name, "lockDuration": 60_000, **fields}


class TestLockedTasks:
    def test_every_field_is_present_and_reflects_the_lock(self, api, clock):
        clock.now = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
        created = api.create_task(processInstanceId="pi-1", businessKey="order-17", activityId="charge", priority=3)

        [task] = api.fetch("worker-7", lockDuration=1_500)

        assert set(task) == LOCKED_TASK_FIELDS
        assert task["id"] == created["id"]
        assert task["topicName"] == "invoice"
        assert task["workerId"] == "worker-7"
        assert task["lockExpirationTime"] == "2025-01-02T03:04:07.178+0000"
        assert task["createTime"] == "2025-01-02T03:04:05.678+0000"
        assert task["suspended"] is False
        assert task["retries"] is None
        assert task["errorMessage"] is None and task["errorDetails"] is None
        assert task["businessKey"] == "order-17"
        assert task["priority"] == 3
        assert task["extensionProperties"] == {}
        assert task["variables"] == {}

    def test_the_lock_is_visible_on_the_task(self, api):
        created = api.create_task()
        [locked] = api.fetch("worker-7")
        assert api.task(created["id"])["workerId"] == "worker-7"
        assert api.task(created["id"])["lockExpirationTime"] == locked["lockExpirationTime"]

    def test_a_locked_task_is_not_handed_out_again(self, api):
        api.create_task()
        assert len(api.fetch("a")) == 1
        assert api.fetch("b") == []

    def test_max_tasks_caps_the_answer(self, api):
        for _ in range(3):
            api.create_task()
        assert len(api.fetch(max_tasks=2)) == 2

    def test_only_the_requested_topics(self, api):
        api.create_task("mail")
        wanted = api.create_task("invoice")
        assert [t["id"] for t in api.fetch(topic="invoice")] == [wanted["id"]]

    def test_use_priority_hands_out_the_highest_priority_first(self, api):
        api.create_task(priority=1)
        high = api.create_task(priority=9)
        response = fetch(api, maxTasks=1, usePriority=True, topics=[topic()])
        assert [t["id"] for t in response.json()] == [high["id"]]

    def test_extension_properties_only_when_the_topic_asks(self, api):
        api.create_task(extensionProperties={"sla": "high"})
        api.create_task(extensionProperties={"sla": "low"})
        [plain] = api.fetch(max_tasks=1)
        [with_properties] = api.fetch(max_tasks=1, includeExtensionProperties=True)
        assert plain["extensionProperties"] == {}
        assert with_properties["extensionProperties"] in ({"sla": "high"}, {"sla": "low"})

    def test_process_variables_filter_on_raw_values(self, api):
        api.create_task(variables={"region": {"value": "US"}})
        eu = api.create_task(variables={"region": {"value": "EU", "type": "String"}})
        assert [t["id"] for t in api.fetch(processVariables={"region": "EU"})] == [eu["id"]]

    def test_business_key_filter(self, api):
        api.create_task(businessKey="a")
        b = api.create_task(businessKey="b")
        assert [t["id"] for t in api.fetch(businessKey="b")] == [b["id"]]


class TestVariables:
    VARIABLES = {
        "text": {"value": "hello", "type": "String"},
        "count": {"value": 42, "type": "integer"},
        "big": {"value": 2**40},
        "ratio": {"value": 0.25, "type": "Double", "valueInfo": None},
        "flag": {"value": True, "type": None},
        "when": {"value": "2025-01-02T03:04:05.678+01:00", "type": "Date"},
        "doc": {"value": {"a": [1, 2]}, "type": "json"},
        "nothing": {"value": None},
    }

    EXPECTED = {
        "text": {"type": "String", "value": "hello", "valueInfo": {}},
        "count": {"type": "Integer", "value": 42, "valueInfo": {}},
        "big": {"type": "Long", "value": 2**40, "valueInfo": {}},
        "ratio": {"type": "Double", "value": 0.25, "valueInfo": {}},
        "flag": {"type": "Boolean", "value": True, "valueInfo": {}},
        "when": {"type": "Date", "value": "2025-01-02T02:04:05.678+0000", "valueInfo": {}},
        "doc": {"type": "Json", "value": '{"a":[1,2]}', "valueInfo": {}},
        "nothing": {"type": "Null", "value": None, "valueInfo": {}},
    }

    def test_round_trip_with_capitalised_types_and_value_info(self, api):
        api.create_task(variables=self.VARIABLES)
        [task] = api.fetch()
        assert task["variables"] == self.EXPECTED

    def test_local_variables_are_seen_with_process_variables(self, api):
        api.create_task(variables={"a": {"value": 1}}, localVariables={"b": {"value": 2}})
        [task] = api.fetch()
        assert set(task["variables"]) == {"a", "b"}

    def test_local_variables_only(self, api):
        api.create_task(variables={"a": {"value": 1}}, localVariables={"b": {"value": 2}})
        [task] = api.fetch(localVariables=True)
        assert set(task["variables"]) == {"b"}

    @pytest.mark.parametrize(
        ("names", "expected"), [(None, {"text", "count"}), ([], set()), (["count", "absent"], {"count"})]
    )
    def test_the_variables_a_topic_asks_for(self, api, names, expected):
        api.create_task(variables={"text": self.VARIABLES["text"], "count": self.VARIABLES["count"]})
        [task] = api.fetch(variables=names)
        assert set(task["variables"]) == expected

    def test_file_values_come_without_their_content(self, api):
        file = {"value": "aGVsbG8=", "type": "File", "valueInfo": {"filename": "a.txt", "mimeType": "text/plain"}}
        api.create_task(variables={"attachment": file})
        [task] = api.fetch()
        assert task["variables"]["attachment"] == {
            "type": "File", "valueInfo": {"filename": "a.txt", "mimeType": "text/plain"}
        }

    def test_transient_variables_are_not_kept(self, api):
        api.create_task(variables={"tmp": {"value": "x", "valueInfo": {"transient": True}}})
        [task] = api.fetch()
        assert task["variables"] == {}


class TestWhatRealClientsSend:
    def test_nulls_everywhere_optional(self, api):
        """The shape the JS and Python clients put on the wire."""
        task = api.create_task()
        body = {
            "workerId": "js-worker", "maxTasks": 10, "usePriority": True, "sorting": None,
            "asyncResponseTimeout": None, "includeExtensionProperties": None, "deserializeValues": False,
            "topics": [{
                "topicName": "invoice", "lockDuration": 20_000, "variables": None, "localVariables": None,
                "businessKey": None, "processDefinitionId": None, "processDefinitionIdIn": None,
                "processDefinitionKey": None, "processDefinitionKeyIn": None, "processDefinitionVersionTag": None,
                "processVariables": None, "withoutTenantId": None, "tenantIdIn": None,
                "includeExtensionProperties": None, "deserializeValues": None,
            }],
        }
        response = api.post("/external-task/fetchAndLock", json=body)
        assert response.status_code == 200
        assert [t["id"] for t in response.json()] == [task["id"]]

    def test_the_long_polling_timeout_is_accepted_and_answered_at_once(self, api):
        api.create_task()
        response = fetch(api, asyncResponseTimeout=1_800_000, topics=[topic()])
        assert response.status_code == 200 and len(response.json()) == 1

    def test_sorting_by_create_time(self, api, clock):
        first = api.create_task()
        clock.advance(1000)
        second = api.create_task()
        response = fetch(api, sorting=[{"sortBy": "createTime", "sortOrder": "desc"}], topics=[topic()])
        assert [t["id"] for t in response.json()] == [second["id"], first["id"]]


class TestNothingToHandOut:
    def test_max_tasks_zero_or_absent(self, api):
        api.create_task()
        assert fetch(api, maxTasks=0, topics=[topic()]).json() == []
        body = {"workerId": "w", "topics": [topic()]}
        assert api.post("/external-task/fetchAndLock", json=body).json() == []

    def test_no_topics(self, api):
        api.create_task()
        assert fetch(api).json() == []
        assert fetch(api, topics=None).json() == []


class TestValidation:
    """Camunda's messages; where Camunda answers 500 for bad input, extask answers 400."""

    def test_worker_id_missing(self, api):
        response = api.post("/external-task/fetchAndLock", json={"maxTasks": 1, "topics": [topic()]})
        assert_error(response, 400, "NullValueException", "workerId is null", code=0)

    def test_no_body_at_all(self, api):
        assert_error(api.post("/external-task/fetchAndLock"), 400, "NullValueException", "workerId is null")

    def test_negative_max_tasks(self, api):
        assert_error(
            fetch(api, maxTasks=-1, topics=[topic()]), 400, "ProcessEngineException",
            "maxResults is not greater than or equal to 0", code=0,
        )

    def test_topic_name_missing(self, api):
        assert_error(fetch(api, topics=[{"lockDuration": 1000}]), 400, "NullValueException", "topicName is null")

    @pytest.mark.parametrize("duration", [None, 0, -5])
    def test_lock_duration_missing_or_not_positive(self, api, duration):
        assert_error(
            fetch(api, topics=[{"topicName": "invoice", "lockDuration": duration}]),
            400, "ProcessEngineException", "lockTime is not greater than 0",
        )

    def test_lock_duration_absent(self, api):
        assert_error(
            fetch(api, topics=[{"topicName": "invoice"}]),
            400, "ProcessEngineException", "lockTime is not greater than 0",
        )

    def test_sort_by_other_than_create_time(self, api):
        response = fetch(api, sorting=[{"sortBy": "priority", "sortOrder": "asc"}], topics=[topic()])
        assert_error(
            response, 400, "InvalidRequestException", "Cannot set query sortBy parameter to value priority", code=None
        )

    @pytest.mark.parametrize("order", ["DESC", "", " "])
    def test_sort_order_other_than_asc_or_desc(self, api, order):
        response = fetch(api, sorting=[{"sortBy": "createTime", "sortOrder": order}], topics=[topic()])
        message = f"Cannot set query sortOrder parameter to value {order}"
        assert_error(response, 400, "InvalidRequestException", message)

    def test_sort_order_missing(self, api):
        response = fetch(api, sorting=[{"sortBy": "createTime"}], topics=[topic()])
        assert_error(
            response, 400, "NotValidException",
            "Invalid query: call asc() or desc() after using orderByXX(): direction is null",
        )

    def test_async_response_timeout_above_thirty_minutes(self, api):
        assert_error(
            fetch(api, asyncResponseTimeout=1_800_001, topics=[topic()]),
            400, "InvalidRequestException",
            "The asynchronous response timeout cannot be set to a value greater than 1800000 milliseconds",
            code=None,
        )

    def test_refused_requests_lock_nothing(self, api):
        created = api.create_task()
        fetch(api, maxTasks=-1, topics=[topic()])
        fetch(api, asyncResponseTimeout=1_800_001, topics=[topic()])
        assert api.task(created["id"])["workerId"] is None
